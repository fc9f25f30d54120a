"""`python -m cli ...`: the `lab` command line, see cli/main.py."""

import sys

from cli.main import main

sys.exit(main())
