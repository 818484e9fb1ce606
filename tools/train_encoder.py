#!/usr/bin/env python
"""Deprecated name of ``tools/train_segmentor.py`` (``dakpn-aug
train-segmentor``): it trains any mmseg segmentor, not only encoders."""
import sys

from dakpn_aug.cli.train_segmentor import main

if __name__ == '__main__':
    print('tools/train_encoder.py is deprecated: use tools/train_segmentor.py '
          'or `dakpn-aug train-segmentor` (same options)', file=sys.stderr)
    sys.exit(main())
