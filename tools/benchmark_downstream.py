#!/usr/bin/env python
"""Downstream benchmark on the demo data (paper tables 3 and 6, in small).

A thin wrapper: the tool is ``dakpn_aug.cli.benchmark_downstream``, also run as
``dakpn-aug benchmark-downstream`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.benchmark_downstream import main

if __name__ == '__main__':
    sys.exit(main())
