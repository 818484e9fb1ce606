#!/usr/bin/env python
"""How much of the synthetic->real gap does a translation close?

A thin wrapper: the tool is ``dakpn_aug.cli.domain_gap``, also run as
``dakpn-aug domain-gap`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.domain_gap import main

if __name__ == '__main__':
    sys.exit(main())
