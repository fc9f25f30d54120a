"""`python -m agents validate <experiment_id> --dir <lab> [--force] [--no-follow-ups]`
and `python -m agents report <experiment_id> --dir <lab> [--out FOLDER]`.

The engine's finisher starts `validate` for every experiment whose runs have ended, and its
recorder starts `report` to write report.md and the figures into the record folder before the
commit (scipy and matplotlib stay out of the engine). Exit 0 when rated (or already rated) or
written, 2 on bad input, 1 when the rating or the report failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import traceback
from pathlib import Path

from agents.catalog import Catalog, CatalogError
from agents.dialogue import Dialogue
from agents.settings import SettingsError, current_settings, read_config
from agents.validator import NotRateable, Validator
from db import DatabaseError, Store


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


async def validate(root: Path, exp_id: int, force: bool, follow_ups: bool) -> str:
    store = await Store.open(root / "lab.db")
    try:
        settings = await current_settings(store, read_config(root))
        dialogue = Dialogue(store, settings)
        try:
            breakdown = await Validator(store, Catalog(), settings, dialogue).validate(
                exp_id, force=force, follow_ups=follow_ups)
        finally:
            await dialogue.close()
    finally:
        await store.close()
    if breakdown is None:
        return f"experiment {exp_id} was already rated (use --force to rate it again)"
    return f"experiment {exp_id} rated {breakdown['rating']}/10"


async def report(root: Path, exp_id: int, out: Path) -> str:
    from agents.reports.experiment import write  # matplotlib only for this command

    store = await Store.open(root / "lab.db")
    try:
        settings = await current_settings(store, read_config(root))
        path = await write(store, exp_id, out, Catalog(), settings)
    finally:
        await store.close()
    return str(path)


def _report_main(root: Path, exp_id: int, out: str | None) -> int:
    from agents.reports.data import ReportError

    folder = Path(out).expanduser().resolve() if out else root / "reports" / f"exp-{exp_id}"
    try:
        print(asyncio.run(report(root, exp_id, folder)))
    except (ReportError, SettingsError) as exc:
        print(f"agents: {exc}", file=sys.stderr)
        return 2
    except (CatalogError, DatabaseError, OSError) as exc:
        print(f"agents: report of experiment {exp_id} failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: the details first, then one line for the engine's event
        traceback.print_exc()
        print(f"agents: report of experiment {exp_id} failed: {exc!r}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m agents")
    parser.add_argument("command", choices=["validate", "report"])
    parser.add_argument("experiment", type=int)
    parser.add_argument("--dir", default=None, help="lab directory (default ./lab or $JOULELAB_DIR)")
    parser.add_argument("--force", action="store_true", help="rate again an experiment already rated")
    parser.add_argument("--no-follow-ups", action="store_true", help="rate only; propose nothing")
    parser.add_argument("--out", default=None, help="report: the folder for report.md and figures/ "
                        "(default <lab>/reports/exp-<id>)")
    args = parser.parse_args(argv)
    root = Path(args.dir or os.environ.get("JOULELAB_DIR") or "lab").expanduser().resolve()
    if not (root / "lab.db").exists():
        print(f"agents: no lab at {root} (no lab.db)", file=sys.stderr)
        return 2
    if args.command == "report":
        return _report_main(root, args.experiment, args.out)
    try:
        print(asyncio.run(validate(root, args.experiment, args.force, not args.no_follow_ups)))
    except (NotRateable, SettingsError) as exc:
        print(f"agents: {exc}", file=sys.stderr)
        return 2
    except (CatalogError, DatabaseError) as exc:
        print(f"agents: {exc}", file=sys.stderr)
        return 1
    return 0
