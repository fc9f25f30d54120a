"""`python -m records report <experiment> --dir <lab>`: see records/report_command.py."""

import sys

from records.report_command import main

sys.exit(main())
