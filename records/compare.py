"""`lab diff A B`: what changed between two experiments: parameters, code, results."""

from __future__ import annotations

import contextlib
import json
import statistics
from pathlib import Path

from contract import units
from contract.jsonvalue import json_object, text_at
from contract.params import ParamValue, ParamValues
from db import Run

RESULT_KEYS = ("test_accuracy", "train_time_s", "latency_b1_ms", "model_size_bytes", "energy_kwh",
               "peak_mem_bytes")


def param_changes(a: ParamValues, b: ParamValues) -> list[tuple[str, ParamValue, ParamValue]]:
    """(parameter, in a, in b) for each parameter that differs (`units.MISSING`: not given)."""
    keys = sorted(set(a) | set(b))
    return [(k, a.get(k, units.MISSING), b.get(k, units.MISSING)) for k in keys if a.get(k) != b.get(k)]


def code_hashes(runs: list[Run]) -> set[str]:
    """The programs' code hashes the runs ran (each run's spec.json: `code_sha256`)."""
    hashes = set()
    for run in runs:
        path = Path(run.run_dir or "") / "spec.json"
        if run.run_dir and path.exists():
            with contextlib.suppress(ValueError):
                spec = json_object(json.loads(path.read_text())) or {}
                hashes.add(text_at(spec, "code_sha256") or "")
    return hashes - {""}


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
