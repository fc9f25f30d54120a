"""`python -m records report <experiment> --dir <lab>`: see records/cli.py."""

import sys

from records.cli import main

sys.exit(main())
