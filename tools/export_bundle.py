#!/usr/bin/env python
"""Make a translator bundle from any mmengine checkpoint of a DA-KPN run.

A thin wrapper: the tool is ``dakpn_aug.cli.export_bundle``, also run as
``dakpn-aug export`` (``--help`` for its options).
"""
import sys

from dakpn_aug.cli.export_bundle import main

if __name__ == '__main__':
    sys.exit(main())
