"""`python -m agents validate <experiment_id> --dir <lab> [--force] [--no-follow-ups]`.

The engine's finisher starts it for every experiment whose runs have ended (scipy stays out of
the engine). Exit 0 when rated (or already rated), 2 on bad input, 1 when the rating failed.
(Reports are the record's: `python -m records report`, records/report_command.py.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from agents.dialogue import Dialogue
from agents.research_settings import SettingsError, current_settings, read_config
from agents.validator import NotRateableError, Validator
from db import DatabaseError, Store
from science.catalog import Catalog, CatalogError


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


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m agents")
    parser.add_argument("command", choices=["validate"])
    parser.add_argument("experiment", type=int)
    parser.add_argument("--dir", default=None, help="lab directory (default ./lab or $JOULELAB_DIR)")
    parser.add_argument("--force", action="store_true", help="rate again an experiment already rated")
    parser.add_argument("--no-follow-ups", action="store_true", help="rate only; propose nothing")
    args = parser.parse_args(argv)
    root = Path(args.dir or os.environ.get("JOULELAB_DIR") or "lab").expanduser().resolve()
    if not (root / "lab.db").exists():
        print(f"agents: no lab at {root} (no lab.db)", file=sys.stderr)
        return 2
    try:
        print(asyncio.run(validate(root, args.experiment, args.force, not args.no_follow_ups)))
    except (NotRateableError, SettingsError) as exc:
        print(f"agents: {exc}", file=sys.stderr)
        return 2
    except (CatalogError, DatabaseError) as exc:
        print(f"agents: {exc}", file=sys.stderr)
        return 1
    return 0
