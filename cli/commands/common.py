"""Pieces shared by the `lab` subcommands."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from cli.context import CommandError, Context
from contract import units
from contract.catalog_answer import CatalogEntry
from contract.params import ParamValues
from db import Experiment, Run, RunState
from science.catalog import typed
from science.jobs import JobError


async def experiment_or_refuse(ctx: Context, exp_id: int) -> Experiment:
    """The experiment with this id, or a one-line refusal (exit 2)."""
    exp = await (await ctx.store()).get_experiment(exp_id)
    if exp is None:
        raise CommandError(f"no experiment with id {exp_id} (see `lab status`)", 2)
    return exp


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", dest="as_json", help="machine-readable output")


def parse_param_args(pairs: list[str], entry: CatalogEntry) -> ParamValues:
    """`-p key=value` pairs as typed values; JobError lists every malformed or unknown one."""
    params: ParamValues = {}
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


def run_progress(run: Run) -> str:
    done, total = run.progress_done, run.progress_total
    if done is None or not total:
        return units.MISSING
    return units.percent(done / total, 0)


def run_rows(runs: list[Run], now: float) -> list[list[str]]:
    rows = []
    for r in runs:
        end = r.finished_at or (now if r.status == RunState.RUNNING else None)
        elapsed = units.duration(end - r.started_at) if r.started_at and end else units.MISSING
        rows.append([str(r.id), str(r.experiment_id), r.variant, str(r.seed), r.status,
                     run_progress(r), r.device or r.device_kind, elapsed, str(r.attempt),
                     (r.error or "")[:60]])
    return rows


RUN_HEADERS = ["run", "exp", "variant", "seed", "status", "progress", "device", "elapsed", "attempt", "note"]


class ProgressLine:
    """A long operation's progress on stderr (`exporting to MLflow: 40 of 87 runs, 12 s`): nothing
    for the first `after_s` (a quick one stays silent), then at most once per `every_s`, updated
    in place on a terminal, one line each elsewhere; `end()` finishes the line. Until the first
    count arrives, `before` says what it is doing (`opening the MLflow store, 5 s`), from a
    thread: the work before the first count may block this one."""

    def __init__(self, what: str, unit: str = "runs", *, before: str = "starting", after_s: float = 1.0,
                 every_s: float = 1.0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.unit, self.after_s, self.every_s = what, unit, after_s, every_s
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self.shown_at: float | None = None
        self.inline = bool(getattr(self.stream, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._counted = threading.Event()
        self._before = threading.Thread(target=self._wait_line, args=(before,), daemon=True)
        self._before.start()

    def _wait_line(self, doing: str) -> None:
        while not self._counted.wait(self.every_s if self.shown_at is not None else self.after_s):
            self._show(f"{self.what}: {doing}, {units.duration(self.clock() - self.started)}")

    def _show(self, line: str) -> None:
        with self._lock:
            self.shown_at = self.clock()
            self.stream.write(f"\r{line}\033[K" if self.inline else line + "\n")
            self.stream.flush()

    def __call__(self, done: int, total: int) -> None:
        self._counted.set()
        now = self.clock()
        if now - self.started < self.after_s or (self.shown_at is not None and now - self.shown_at < self.every_s
                                                 and done < total):
            return
        self._show(f"{self.what}: {done} of {total} {self.unit}, {units.duration(now - self.started)}")

    def end(self) -> None:
        self._counted.set()
        self._before.join()
        if self.shown_at is not None and self.inline:
            self.stream.write("\n")
            self.stream.flush()


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain text table with left-aligned columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
