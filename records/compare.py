"""`lab diff A B`: what changed between two experiments: parameters, code, results."""

from __future__ import annotations

import contextlib
import json
import statistics
from typing import Any

from db import Run

RESULT_KEYS = ("test_accuracy", "train_time_s", "latency_b1_ms", "model_size_bytes", "energy_kwh",
               "peak_mem_bytes")


def param_changes(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    keys = sorted(set(a) | set(b))
    return [(k, a.get(k, "-"), b.get(k, "-")) for k in keys if a.get(k) != b.get(k)]


def code_hashes(runs: list[Run], specs: dict[int, dict[str, Any]]) -> set[str]:
    return {s.get("code_sha256", "") for r in runs if (s := specs.get(r.id)) and s.get("code_sha256")}


def variant_means(runs: list[Run]) -> dict[str, dict[str, float]]:
    """Mean of the main result keys per variant, over the runs that produced them."""
    values: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        result = run.result
        if not isinstance(result, dict) or result.get("skipped"):
            continue
        for key in RESULT_KEYS:
            value = result.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault(run.variant, {}).setdefault(key, []).append(float(value))
    return {v: {k: statistics.fmean(xs) for k, xs in keys.items()} for v, keys in values.items()}


def load_specs(runs: list[Run]) -> dict[int, dict[str, Any]]:
    from pathlib import Path

    specs = {}
    for run in runs:
        path = Path(run.run_dir or "") / "spec.json"
        if run.run_dir and path.exists():
            with contextlib.suppress(ValueError):
                specs[run.id] = json.loads(path.read_text())
    return specs
