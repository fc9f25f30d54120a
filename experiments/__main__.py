"""``python -m experiments ...``: see experiments/command_line.py."""

import sys

from .command_line import main

sys.exit(main())
