"""``python -m experiments.zoo export --run-dir RUN --out FOLDER [--extra JSON]`` and
``python -m experiments.zoo remeasure FOLDER``: one JSON object on stdout; a one-line error on
stderr and exit 1 (nothing to export) or 2 (bad arguments)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.zoo")
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="a run's model into a Hugging Face-layout folder")
    e.add_argument("--run-dir", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--extra", default="{}", help="JSON object joining config.json's joulelab section")
    r = sub.add_parser("remeasure", help="an exported image model's test metric, measured again")
    r.add_argument("folder")
    r.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    from . import remeasure
    from .export import ExportError, export

    try:
        if args.command == "export":
            extra = json.loads(args.extra)
            done = export(Path(args.run_dir), Path(args.out), extra if isinstance(extra, dict) else {})
        else:
            done = remeasure(args.folder, args.cache_dir)
    except (ExportError, ValueError, OSError, KeyError) as exc:
        print(f"zoo: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(done, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
