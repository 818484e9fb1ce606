#!/usr/bin/env python
"""Train DA-KPN with an mmengine Runner and export the translator bundle.

A thin wrapper: the tool is ``dakpn_aug.cli.train_dakpn``, also run as
``dakpn-aug train-dakpn`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.train_dakpn import main

if __name__ == '__main__':
    sys.exit(main())
