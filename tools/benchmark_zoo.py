#!/usr/bin/env python
"""The camera zoo: one DA-KPN recipe on cameras it was not tuned on.

A thin wrapper: the tool is ``dakpn_aug.cli.benchmark_zoo``, also run as
``dakpn-aug benchmark-zoo`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.benchmark_zoo import main

if __name__ == '__main__':
    sys.exit(main())
