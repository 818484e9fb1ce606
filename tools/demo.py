#!/usr/bin/env python
"""The demo behind ``make demo``: train DA-KPN on the embedded demo data.

A thin wrapper: the tool is ``dakpn_aug.cli.demo``, also run as
``dakpn-aug demo`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.demo import main

if __name__ == '__main__':
    sys.exit(main())
