#!/usr/bin/env python
"""What DA-KPN costs inside downstream mmseg training.

A thin wrapper: the tool is ``dakpn_aug.cli.benchmark_overhead``, also run as
``dakpn-aug benchmark-overhead`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.benchmark_overhead import main

if __name__ == '__main__':
    sys.exit(main())
