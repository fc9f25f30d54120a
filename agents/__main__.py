"""`python -m agents validate <experiment> --dir <lab>`: see agents/validate_command.py."""

import sys

from agents.validate_command import main

sys.exit(main())
