"""`python -m records report <experiment_id> --dir <lab> [--out FOLDER]`.

The recorder (records/git.py) starts it to write report.md and the figures into the record
folder before the commit (matplotlib and scipy stay out of the engine). Exit 0 when written, 2 on
bad input, 1 when the report failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import traceback
from pathlib import Path

from agents.research_settings import SettingsError, current_settings, read_config
from db import DatabaseError, Store
from science.catalog import Catalog, CatalogError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


async def report(root: Path, exp_id: int, out: Path) -> str:
    from records.reports.experiment import write  # matplotlib only for this command

    store = await Store.open(root / "lab.db")
    try:
        settings = await current_settings(store, read_config(root))
        path = await write(store, exp_id, out, Catalog(), settings)
        exp = await store.get_experiment(exp_id)
        if exp is not None and exp.rating is not None:  # the roadmap moves with each rated experiment
            await _roadmap(store, root)
    finally:
        await store.close()
    return str(path)


async def _roadmap(store: Store, root: Path) -> None:
    """ROADMAP.md at the top of the lab; a failure is said on stderr and never fails the report."""
    from contract.layout import LabDir
    from records.roadmap_report import write_roadmap

    try:
        await write_roadmap(store, LabDir(root))
    except Exception as exc:  # the experiment's record matters more than the roadmap's page
        print(f"records: ROADMAP.md not written: {exc!r}", file=sys.stderr)


def report_main(root: Path, exp_id: int, out: str | None) -> int:
    from records.reports.experiment_data import ReportError

    folder = Path(out).expanduser().resolve() if out else root / "reports" / f"exp-{exp_id}"
    try:
        print(asyncio.run(report(root, exp_id, folder)))
    except (ReportError, SettingsError) as exc:
        print(f"records: {exc}", file=sys.stderr)
        return 2
    except (CatalogError, DatabaseError, OSError) as exc:
        print(f"records: report of experiment {exp_id} failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: the details first, then one line for the engine's event
        traceback.print_exc()
        print(f"records: report of experiment {exp_id} failed: {exc!r}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m records")
    parser.add_argument("command", choices=["report"])
    parser.add_argument("experiment", type=int)
    parser.add_argument("--dir", default=None, help="lab directory (default ./lab or $JOULELAB_DIR)")
    parser.add_argument("--out", default=None, help="the folder for report.md and figures/ "
                        "(default <lab>/reports/exp-<id>)")
    args = parser.parse_args(argv)
    root = Path(args.dir or os.environ.get("JOULELAB_DIR") or "lab").expanduser().resolve()
    if not (root / "lab.db").exists():
        print(f"records: no lab at {root} (no lab.db)", file=sys.stderr)
        return 2
    return report_main(root, args.experiment, args.out)
