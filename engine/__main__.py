"""`python -m engine run --dir LAB`: the engine in the foreground (what `lab engine start` detaches)."""

from __future__ import annotations

import argparse
import sys

from contract.config import ConfigError
from contract.layout import LabDir
from engine.control import run_foreground


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--dir", default=None, help="lab directory (default ./lab or $JOULELAB_DIR)")
    parser.add_argument("--log-to-stderr", action="store_true", help="log only to stderr (detached mode)")
    args = parser.parse_args(argv)
    try:
        return run_foreground(LabDir.resolve(args.dir), log_to_stderr_only=args.log_to_stderr)
    except ConfigError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
