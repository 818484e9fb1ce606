#!/usr/bin/env python
"""Speed and memory of the DA-KPN translation: the README "Speed" table.

A thin wrapper: the tool is ``dakpn_aug.cli.benchmark_speed``, also run as
``dakpn-aug benchmark-speed`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.benchmark_speed import main

if __name__ == '__main__':
    sys.exit(main())
