"""`lab export --tensorboard DIR`: every run's metrics as TensorBoard event files.

One folder per experiment (`<id>-<name>`, as in the lab's git record) and one per run inside it
(`run-<id>-<variant>-s<seed>`), so TensorBoard lists and compares runs by variant and seed. Each
metric curve of the run's latest attempt is a scalar series at its steps and wall times; the final
results are `result/<key>` at the last step. Exporting again replaces the event files written
before, so TensorBoard never shows a run twice.

Written with tensorboardX (the optional extra `tensorboard`). It imports torch only to accept
torch tensors, which the lab never gives it: torch is kept out of this process (the control room's
rooms never load it).
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

from db import Experiment, MetricPoint, Run, Store
from records.export import ExportError, Progress

EVENT_FILES = "events.out.tfevents.*"


def summary_writer() -> Any:
    """tensorboardX's SummaryWriter class, imported without torch."""
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ExportError("the TensorBoard export needs tensorboardX: pip install 'joulelab[tensorboard]'") from None
    finally:
        if hide:
            sys.modules.pop("torch", None)
    return SummaryWriter


def run_dirname(run: Run) -> str:
    variant = re.sub(r"[^A-Za-z0-9._-]+", "-", str(run.variant)).strip("-") or "variant"
    return f"run-{run.id}-{variant}-s{run.seed}"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


async def export_tensorboard(store: Store, out: Path, progress: Progress | None = None) -> tuple[int, int]:
    """Write every run that has metrics or results; returns (runs, scalar points) written.
    `progress(done, total)` hears of each run as it is done."""
    from records.git import exp_dirname

    writer_class = summary_writer()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror}") from None
    runs_written = points = seen = 0
    experiments = sorted(await store.list_experiments(), key=lambda e: e.id)
    total = await _count_runs(store, experiments) if progress is not None else 0
    for exp in experiments:
        rows = await store.experiment_metrics(exp.id)
        latest = _latest_attempts(rows)
        for run in await store.list_runs(exp.id):
            if progress is not None:
                progress(seen, total)
            seen += 1
            series = [r for r in rows if r.run_id == run.id and r.attempt == latest.get(run.id)]
            result = _finite_results(run)
            if not series and not result:
                continue
            folder = out / exp_dirname(exp) / run_dirname(run)
            end = run.finished_at or run.started_at or exp.created_at
            points += _write_run(writer_class, folder, series, result, end)
            runs_written += 1
    if progress is not None:
        progress(seen, total)
    return runs_written, points


async def _count_runs(store: Store, experiments: list[Experiment]) -> int:
    return sum([len(await store.list_runs(exp.id)) for exp in experiments])


def _latest_attempts(rows: list[MetricPoint]) -> dict[int, int]:
    """Each run's latest attempt among its metric points."""
    latest: dict[int, int] = {}
    for row in rows:
        latest[row.run_id] = max(latest.get(row.run_id, 0), row.attempt)
    return latest


def _finite_results(run: Run) -> dict[str, float]:
    """The run's final results that are finite numbers."""
    if not isinstance(run.result, dict):
        return {}
    return {k: value for k, v in run.result.items() if (value := _finite(v)) is not None}


def _write_run(writer_class: Any, folder: Path, series: list[MetricPoint], result: dict[str, float],
               end: float) -> int:
    """One run's event file in `folder` (replacing the ones written before): its curve at its steps,
    then its results at the last step; returns the scalar points written."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(EVENT_FILES):
        old.unlink()
    points = 0
    writer = writer_class(logdir=str(folder), flush_secs=3600)
    try:
        last_step = 0
        for row in series:
            value = _finite(row.value)
            if value is None:
                continue
            writer.add_scalar(row.key, value, row.step, walltime=row.t)
            last_step = max(last_step, row.step)
            points += 1
        for key, value in sorted(result.items()):
            writer.add_scalar(f"result/{key}", value, last_step, walltime=end)
            points += 1
    finally:
        writer.close()
    return points
