"""``python -m dakpn_aug SUBCOMMAND``: the ``dakpn-aug`` command."""
import sys

from .cli import main

sys.exit(main())
