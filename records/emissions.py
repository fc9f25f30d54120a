"""Energy records as rows of codecarbon's own `emissions.csv`, so its tooling reads them."""

from __future__ import annotations

import csv
import os
import platform
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from contract.jsonvalue import json_object, number_at, text_at
from db import Experiment, Run


@dataclass(frozen=True, kw_only=True)
class EmissionsRow:
    """One run as a row of codecarbon 3.x's EmissionsData: its columns, in its order. What the lab
    does not measure per component or place stays at codecarbon's empty value."""

    timestamp: str
    project_name: str
    run_id: str
    experiment_id: str
    duration: float
    emissions: float
    emissions_rate: float
    cpu_power: float = 0.0
    gpu_power: float = 0.0
    ram_power: float = 0.0
    cpu_energy: float = 0.0
    gpu_energy: float = 0.0
    ram_energy: float = 0.0
    energy_consumed: float
    water_consumed: float = 0.0
    country_name: str = ""
    country_iso_code: str = ""
    region: str = ""
    cloud_provider: str = ""
    cloud_region: str = ""
    os: str
    python_version: str
    codecarbon_version: str
    cpu_count: int | None
    cpu_model: str = ""
    gpu_count: int
    gpu_model: str = ""
    longitude: str = ""
    latitude: str = ""
    ram_total_size: float = 0.0
    tracking_mode: str
    cpu_utilization_percent: float = 0.0
    gpu_utilization_percent: float = 0.0
    ram_utilization_percent: float = 0.0
    ram_used_gb: float = 0.0
    on_cloud: str = "N"
    pue: float = 1.0
    wue: float = 0.0


COLUMNS = [f.name for f in fields(EmissionsRow)]


def emissions_rows(experiments: list[Experiment], runs: list[Run]) -> list[EmissionsRow]:
    names = {e.id: e.name for e in experiments}
    rows = []
    for run in runs:
        result = run.result
        energy = None if result is None else number_at(result, "energy_kwh")
        if result is None or energy is None:
            continue
        duration = (run.finished_at or 0) - (run.started_at or 0)
        co2 = float(number_at(result, "co2_kg") or 0.0)
        versions = json_object(result.get("versions")) or {}
        rows.append(EmissionsRow(
            timestamp=datetime.fromtimestamp(run.finished_at or run.updated_at, UTC).isoformat(),
            project_name=f"joulelab:{names.get(run.experiment_id, run.experiment_id)}",
            run_id=f"run-{run.id}", experiment_id=f"exp-{run.experiment_id}",
            duration=round(max(duration, 0.0), 6), emissions=co2, emissions_rate=co2 / duration if duration > 0 else 0.0,
            energy_consumed=float(energy), os=platform.platform(),
            python_version=text_at(versions, "python") or platform.python_version(),
            codecarbon_version=text_at(versions, "codecarbon") or "", cpu_count=os.cpu_count(),
            gpu_count=1 if (run.device or "").startswith("cuda") else 0,
            tracking_mode=f"process ({result.get('energy_mode', 'modelled')})"))
    return rows


def write_emissions_csv(path: Path, rows: list[EmissionsRow]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    return path
