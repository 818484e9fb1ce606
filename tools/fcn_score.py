#!/usr/bin/env python
"""FCN-score (paper table 1): a real-domain segmenter on translated images.

A thin wrapper: the tool is ``dakpn_aug.cli.fcn_score``, also run as
``dakpn-aug fcn-score`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.fcn_score import main

if __name__ == '__main__':
    sys.exit(main())
