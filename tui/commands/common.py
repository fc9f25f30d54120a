"""Pieces shared by the `lab` subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from agents.catalog import CatalogEntry, typed
from agents.jobs import JobError
from tui import format as fmt


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", dest="as_json", help="machine-readable output")


def parse_param_args(pairs: list[str], entry: CatalogEntry) -> dict[str, Any]:
    """`-p key=value` pairs as typed values; JobError lists every malformed or unknown one."""
    params: dict[str, Any] = {}
    problems: list[str] = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"-p {pair!r}: expected key=value, e.g. -p epochs=10")
            continue
        param = entry.param(key)
        if param is None:
            known = ", ".join(p.name for p in entry.params)
            problems.append(f"-p {key}: {entry.name} has no parameter {key!r} (it has: {known})")
            continue
        params[key] = typed(param, text.strip())
    if problems:
        raise JobError(problems, "lab")
    return params


def run_progress(run: dict[str, Any]) -> str:
    done, total = run.get("progress_done"), run.get("progress_total")
    if done is None or not total:
        return "-"
    return f"{100 * done / total:.0f} %"


def run_rows(runs: list[dict[str, Any]], now: float) -> list[list[str]]:
    rows = []
    for r in runs:
        end = r["finished_at"] or (now if r["status"] == "running" else None)
        elapsed = fmt.duration(end - r["started_at"]) if r["started_at"] and end else "-"
        rows.append([str(r["id"]), str(r["experiment_id"]), r["variant"], str(r["seed"]), r["status"],
                     run_progress(r), r["device"] or r["device_kind"], elapsed, str(r["attempt"]),
                     (r["error"] or "")[:60]])
    return rows


RUN_HEADERS = ["run", "exp", "variant", "seed", "status", "progress", "device", "elapsed", "attempt", "note"]
