"""Energy records as rows of codecarbon's own `emissions.csv`, so its tooling reads them."""

from __future__ import annotations

import csv
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# the columns of codecarbon 3.x's EmissionsData, in its order
COLUMNS = ["timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
           "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
           "water_consumed", "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os",
           "python_version", "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model",
           "longitude", "latitude", "ram_total_size", "tracking_mode", "cpu_utilization_percent",
           "gpu_utilization_percent", "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue"]


def emissions_rows(experiments: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {e["id"]: e["name"] for e in experiments}
    rows = []
    for run in runs:
        result = run.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("energy_kwh"), (int, float)):
            continue
        duration = (run["finished_at"] or 0) - (run["started_at"] or 0)
        co2 = float(result.get("co2_kg") or 0.0)
        versions = result.get("versions") or {}
        rows.append({
            "timestamp": datetime.fromtimestamp(run["finished_at"] or run["updated_at"], UTC).isoformat(),
            "project_name": f"joulelab:{names.get(run['experiment_id'], run['experiment_id'])}",
            "run_id": f"run-{run['id']}", "experiment_id": f"exp-{run['experiment_id']}",
            "duration": round(max(duration, 0.0), 6), "emissions": co2,
            "emissions_rate": co2 / duration if duration > 0 else 0.0,
            "cpu_power": 0.0, "gpu_power": 0.0, "ram_power": 0.0, "cpu_energy": 0.0, "gpu_energy": 0.0,
            "ram_energy": 0.0, "energy_consumed": float(result["energy_kwh"]), "water_consumed": 0.0,
            "country_name": "", "country_iso_code": "", "region": "", "cloud_provider": "", "cloud_region": "",
            "os": platform.platform(), "python_version": versions.get("python", platform.python_version()),
            "codecarbon_version": versions.get("codecarbon", ""), "cpu_count": os.cpu_count(),
            "cpu_model": "", "gpu_count": 1 if str(run.get("device", "")).startswith("cuda") else 0,
            "gpu_model": "", "longitude": "", "latitude": "", "ram_total_size": 0.0,
            "tracking_mode": f"process ({result.get('energy_mode', 'modelled')})",
            "cpu_utilization_percent": 0.0, "gpu_utilization_percent": 0.0, "ram_utilization_percent": 0.0,
            "ram_used_gb": 0.0, "on_cloud": "N", "pue": 1.0, "wue": 0.0,
        })
    return rows


def write_emissions_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path
