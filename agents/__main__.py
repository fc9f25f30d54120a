"""`python -m agents validate <experiment> --dir <lab>`: see agents/cli.py."""

import sys

from agents.cli import main

sys.exit(main())
