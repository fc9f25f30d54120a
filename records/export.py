"""`lab export`: experiments, runs, metrics and ratings as CSV, JSON or Parquet, plus energy as
codecarbon-compatible `emissions.csv`."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from db import Experiment, Store
from records.emissions import emissions_rows, write_emissions_csv

FORMATS = ("csv", "json", "parquet")
Progress = Callable[[int, int], None]  # (runs done, runs in all): an export's progress as it goes


class ExportError(RuntimeError):
    """The export cannot be written (missing optional package, unwritable directory)."""


def _flat(value: Any) -> Any:
    """Nested values (params, results) as JSON text in one cell."""
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value


def rating_rows(experiments: list[Experiment]) -> list[dict[str, Any]]:
    rows = []
    for exp in experiments:
        if exp.rating is None:
            continue
        breakdown = exp.breakdown
        h = breakdown.headline
        ci = (h.quality_delta_ci95 if h else None) or (None, None)
        row = {"experiment_id": exp.id, "name": exp.name, "catalog": exp.catalog,
               "rating": exp.rating, "best_variant": h.variant if h else None,
               "efficiency_score": h.efficiency_score if h else None, "speedup": h.speedup if h else None,
               "compression": h.compression if h else None, "quality_delta": h.quality_delta if h else None,
               "quality_delta_ci95_low": ci[0], "quality_delta_ci95_high": ci[1],
               "energy_estimated": h.energy_estimated if h else None}
        for criterion in breakdown.criteria:
            row[f"points_{criterion.id}"] = criterion.points
        rows.append(row)
    return rows


async def collect(store: Store) -> dict[str, list[dict[str, Any]]]:
    experiments = sorted(await store.list_experiments(), key=lambda e: e.id)
    runs = await store.list_runs()
    metrics: list[dict[str, Any]] = []
    for exp in experiments:
        metrics += [m.to_dict() for m in await store.experiment_metrics(exp.id)]
    # the files hold the rows as JSON would: one column per field
    return {"experiments": [e.to_dict() for e in experiments], "runs": [r.to_dict() for r in runs],
            "metrics": metrics, "ratings": rating_rows(experiments)}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _flat(v) for k, v in row.items()})


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
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
    tables = await collect(store)
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
    written.append(write_emissions_csv(out / "emissions.csv", emissions_rows(tables["experiments"], tables["runs"])))
    return written
