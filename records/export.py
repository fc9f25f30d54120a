"""`lab export`: experiments, runs, metrics and ratings as CSV, JSON or Parquet, plus energy as
codecarbon-compatible `emissions.csv`."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contract.jsonvalue import JsonObject
from contract.rating_record import Headline
from db import Experiment, MetricPoint, Run, Store
from records.emissions import emissions_rows, write_emissions_csv

FORMATS = ("csv", "json", "parquet")
Progress = Callable[[int, int], None]  # (runs done, runs in all): an export's progress as it goes


class ExportError(RuntimeError):
    """The export cannot be written (missing optional package, unwritable directory)."""


def _flat(value: object) -> object:
    """Nested values (params, results) as JSON text in one cell."""
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value


def result_numbers(run: Run) -> dict[str, float]:
    """The run's result values that are numbers (NaN and bools left out): what a tracker (W&B,
    MLflow) keeps as the run's final metrics."""
    values = run.result or {}
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v}


@dataclass(frozen=True)
class RatingRow:
    """A rated experiment as one line of `ratings.*`: its rating, its headline comparison and the
    rubric's points per criterion."""

    experiment_id: int
    name: str
    catalog: str
    rating: float
    headline: Headline | None
    points: tuple[tuple[str, float], ...]   # (criterion id, points), in the rubric's order

    def cells(self) -> JsonObject:
        """The line as the file holds it (a column `points_<criterion>` per criterion)."""
        h = self.headline
        ci = (h.quality_delta_ci95 if h else None) or (None, None)
        row: JsonObject = {
            "experiment_id": self.experiment_id, "name": self.name, "catalog": self.catalog,
            "rating": self.rating, "best_variant": h.variant if h else None,
            "efficiency_score": h.efficiency_score if h else None, "speedup": h.speedup if h else None,
            "compression": h.compression if h else None, "quality_delta": h.quality_delta if h else None,
            "quality_delta_ci95_low": ci[0], "quality_delta_ci95_high": ci[1],
            "energy_estimated": h.energy_estimated if h else None}
        row.update((f"points_{cid}", points) for cid, points in self.points)
        return row


def rating_rows(experiments: list[Experiment]) -> list[RatingRow]:
    return [RatingRow(exp.id, exp.name, exp.catalog, exp.rating, exp.breakdown.headline,
                      tuple((c.id, c.points) for c in exp.breakdown.criteria))
            for exp in experiments if exp.rating is not None]


@dataclass(frozen=True)
class Tables:
    """What `lab export` writes: the lab's rows, each table a file."""

    experiments: list[Experiment]
    runs: list[Run]
    metrics: list[MetricPoint]
    ratings: list[RatingRow]

    def files(self) -> dict[str, list[JsonObject]]:
        """Each table's lines as the files hold them: a row as JSON would, one column per field."""
        return {"experiments": [e.to_dict() for e in self.experiments], "runs": [r.to_dict() for r in self.runs],
                "metrics": [m.to_dict() for m in self.metrics], "ratings": [r.cells() for r in self.ratings]}


async def collect(store: Store) -> Tables:
    experiments = sorted(await store.list_experiments(), key=lambda e: e.id)
    metrics: list[MetricPoint] = []
    for exp in experiments:
        metrics += await store.experiment_metrics(exp.id)
    return Tables(experiments, await store.list_runs(), metrics, rating_rows(experiments))


def _write_csv(path: Path, rows: list[JsonObject]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _flat(v) for k, v in row.items()})


def _write_parquet(path: Path, rows: list[JsonObject]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet needs pyarrow: pip install 'joulelab[parquet]' (or use --format csv)") from None
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    table = pa.table({c: [_flat(r.get(c)) if isinstance(r.get(c), (dict, list)) else r.get(c) for r in rows]
                      for c in columns}) if rows else pa.table({})
    pq.write_table(table, path)


async def export(store: Store, out: Path, fmt: str) -> list[Path]:
    """Write every table in `fmt` into `out`; returns the files written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror}") from None
    collected = await collect(store)
    tables = collected.files()
    written: list[Path] = []
    if fmt == "json":
        path = out / "joulelab-export.json"
        path.write_text(json.dumps(tables, indent=1, sort_keys=True, default=str))
        written.append(path)
    else:
        for name, rows in tables.items():
            path = out / f"{name}.{fmt}"
            (_write_csv if fmt == "csv" else _write_parquet)(path, rows)
            written.append(path)
    written.append(write_emissions_csv(out / "emissions.csv", emissions_rows(collected.experiments, collected.runs)))
    return written
