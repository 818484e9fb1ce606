#!/usr/bin/env python
"""The symmetric recipe in one command: models A and B, then their fusion.

A thin wrapper: the tool is ``dakpn_aug.cli.train_symmetric``, also run as
``dakpn-aug train-symmetric`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.train_symmetric import main

if __name__ == '__main__':
    sys.exit(main())
