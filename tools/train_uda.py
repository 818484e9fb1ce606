#!/usr/bin/env python
"""Stage 2: adapt an mmseg segmentor to unlabelled target images.

A thin wrapper: the tool is ``dakpn_aug.cli.train_uda``, also run as
``dakpn-aug train-uda`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.train_uda import main

if __name__ == '__main__':
    sys.exit(main())
