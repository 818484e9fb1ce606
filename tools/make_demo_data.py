#!/usr/bin/env python
"""Write the seeded procedural demo data (a synthetic and a "real" domain).

A thin wrapper: the tool is ``dakpn_aug.cli.make_demo_data``, also run as
``dakpn-aug make-demo-data`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.make_demo_data import main

if __name__ == '__main__':
    sys.exit(main())
