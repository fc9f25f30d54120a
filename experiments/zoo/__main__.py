"""``python -m experiments.zoo export --run-dir RUN --out FOLDER [--extra JSON]`` and
``python -m experiments.zoo remeasure FOLDER``: one JSON object on stdout; a one-line error on
stderr and exit 1 (nothing to export) or 2 (bad arguments).

``python -m experiments.zoo export-many JOBS.json``: every export of a list (objects with
``run_dir``, ``out`` and ``extra``) in one process, so torch is imported once for a whole zoo; one
JSON list on stdout, an object per job: ``{"ok": true, ...}`` with what ``export`` answers, or
``{"ok": false, "error": "..."}``."""

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
    m = sub.add_parser("export-many", help="a list of exports in one process")
    m.add_argument("jobs", help="a JSON file: a list of {run_dir, out, extra}")
    r = sub.add_parser("remeasure", help="an exported image model's test metric, measured again")
    r.add_argument("folder")
    r.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    from . import remeasure
    from .export import ExportError, export

    if args.command == "export-many":
        return _export_many(Path(args.jobs))
    try:
        if args.command == "export":
            extra = json.loads(args.extra)
            done = export(Path(args.run_dir), Path(args.out), extra if isinstance(extra, dict) else {}).to_json()
        else:
            done = remeasure(args.folder, args.cache_dir)
    except (ExportError, ValueError, OSError, KeyError) as exc:
        print(f"zoo: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(done, default=str))
    return 0


def _export_many(jobs_file: Path) -> int:
    from .export import ExportError, export

    try:
        jobs = json.loads(jobs_file.read_text())
    except (OSError, ValueError) as exc:
        print(f"zoo: {jobs_file}: not a readable JSON list of exports ({exc})", file=sys.stderr)
        return 2
    if not isinstance(jobs, list) or not all(isinstance(j, dict) and {"run_dir", "out"} <= j.keys() for j in jobs):
        print(f"zoo: {jobs_file}: expected a JSON list of objects with run_dir and out", file=sys.stderr)
        return 2
    answers: list[dict[str, object]] = []
    for job in jobs:
        extra = job.get("extra")
        try:
            done = export(Path(str(job["run_dir"])), Path(str(job["out"])), extra if isinstance(extra, dict) else {})
        except (ExportError, ValueError, OSError, KeyError) as exc:
            answers.append({"ok": False, "error": str(exc)})
        else:
            answers.append({"ok": True, **done.to_json()})
    print(json.dumps(answers, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
