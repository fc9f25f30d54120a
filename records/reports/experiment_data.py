"""What a report of one experiment is written from: the experiment, its runs and metric points,
its catalog entry, the environment, and the validator's rating breakdown.

An experiment the validator could not rate (its subprocess failed, or it was never asked) is
analysed with the validator's own `science.analysis`, so its numbers are the ones a rating would
hold; the report then says it is not rated.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from agents.state import GENERATED
from agents.validator import experiment_info
from contract.catalog_answer import CatalogEntry
from contract.jsonvalue import JsonObject
from contract.rating_record import Breakdown, VariantResult
from db import Experiment, MetricPoint, Run, RunState, Store
from records.environment import Environment
from science.analysis import analyze
from science.catalog import Catalog, CatalogError, InvalidParamsError
from science.experiment_info import ExperimentInfo
from science.findings import findings


class ReportError(ValueError):
    """The report cannot be written (unknown experiment, not finished); the message says why."""


@dataclass
class ExperimentData:
    exp: Experiment
    runs: list[Run]
    metrics: list[MetricPoint]          # points of each run's last attempt
    breakdown: Breakdown
    rated: bool
    entry: CatalogEntry | None
    environment: Environment = field(default_factory=Environment)

    @property
    def id(self) -> int:
        return self.exp.id

    @property
    def keys(self) -> dict[str, str]:
        return dict(self.breakdown.keys)

    @property
    def variants(self) -> dict[str, VariantResult]:
        return dict(self.breakdown.variants)

    @property
    def baseline(self) -> str:
        return str(self.breakdown.baseline or "")

    def results(self) -> list[JsonObject]:
        """The succeeded runs' results (each as its program wrote it)."""
        return [r.result for r in self.runs if r.status == RunState.SUCCEEDED and isinstance(r.result, dict)]

    def title(self) -> str:
        if self.entry is not None:
            return self.entry.title
        gen = self.exp.metadata.generated
        return (gen.title if gen else None) or self.exp.catalog

    def area(self) -> str:
        if self.entry is not None and self.entry.area:
            return self.entry.area
        return "generated" if self.exp.catalog == GENERATED else "unknown"


def entry_of(catalog: Catalog, name: str) -> CatalogEntry | None:
    """The catalog entry, or None when the catalog cannot be asked or has no such entry."""
    if name == GENERATED:
        return None
    try:
        return catalog.get(name)
    except (CatalogError, InvalidParamsError):
        return None


def unrated_breakdown(exp: Experiment, runs: list[Run], info: ExperimentInfo,
                      keys_from: str) -> Breakdown:
    """The validator's analysis without a rating: same statistics, no criteria."""
    a = analyze(info, runs, exp.seeds)
    return Breakdown(baseline=info.baseline, gain_phase=info.gain_phase, keys=a.keys or info.keys, keys_from=keys_from,
                     seeds=exp.seeds, runs=a.run_counts, variants=a.variants, headline=a.headline,
                     declared_headline=info.headline, speedup_batch=info.speedup_batch,
                     findings=tuple(f.text for f in findings(exp.id, a, runs)))


def last_attempt_points(metrics: list[MetricPoint], runs: list[Run]) -> list[MetricPoint]:
    attempt = {r.id: r.attempt for r in runs}
    return [m for m in metrics if m.attempt == attempt.get(m.run_id, m.attempt)]


def local_environment(runs: list[Run]) -> Environment:
    """Where the runs ran, from their own results; this machine when the record has none."""
    versions = next((found for r in runs
                     if isinstance(r.result, dict) and isinstance(found := r.result.get("versions"), dict)), None)
    return Environment.from_json({
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "devices": sorted({r.device for r in runs if r.device}), "libraries": versions or {},
        "note": "this machine at report time (no environment.json in the record)"})


def read_environment(folder: Path | None, runs: list[Run]) -> Environment:
    path = folder / "environment.json" if folder is not None else None
    if path is not None and path.exists():
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                return Environment.from_json(data)
        except (OSError, ValueError):
            pass
    return local_environment(runs)


async def load(store: Store, exp_id: int, catalog: Catalog, record: Path | None = None) -> ExperimentData:
    """Everything a report of experiment `exp_id` needs; `record`: a folder holding the record's
    environment.json (the recorder's, written before the report)."""
    exp = await store.get_experiment(exp_id)
    if exp is None:
        raise ReportError(f"no experiment with id {exp_id} (see `lab status`)")
    runs = await store.list_runs(exp_id)
    if not runs:
        raise ReportError(f"experiment {exp_id} is {exp.status}: it has no runs to report yet")
    metrics = last_attempt_points(await store.experiment_metrics(exp_id), runs)
    entry = await asyncio.to_thread(entry_of, catalog, exp.catalog)
    rated = exp.rating_breakdown is not None and exp.rating is not None
    breakdown = exp.breakdown
    if not rated:
        info, keys_from = await experiment_info(exp, catalog)
        breakdown = unrated_breakdown(exp, runs, info, keys_from)
    return ExperimentData(exp, runs, metrics, breakdown, rated, entry, read_environment(record, runs))
