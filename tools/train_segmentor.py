#!/usr/bin/env python
"""Pretrain DA-KPN's semantic encoder (an mmseg segmentor) and export it.

A thin wrapper: the tool is ``dakpn_aug.cli.train_segmentor``, also run as
``dakpn-aug train-segmentor`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.train_segmentor import main

if __name__ == '__main__':
    sys.exit(main())
