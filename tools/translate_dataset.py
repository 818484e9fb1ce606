#!/usr/bin/env python
"""Translate a whole synthetic dataset offline with a DA-KPN bundle.

A thin wrapper: the tool is ``dakpn_aug.cli.translate_dataset``, also run as
``dakpn-aug translate`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.translate_dataset import main

if __name__ == '__main__':
    sys.exit(main())
