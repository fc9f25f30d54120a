"""The independent evaluation sets in the validator's result (science/eval_sets.py): each
variant's perplexity per set over seeds, its relative change against its reference (a paired t
on per-seed log ratios, checked by hand against scipy), shown apart from the test split and the
rating; a set that shares items with the training split is said to be not independent."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import scipy.stats as sps

from db import Run
from science import eval_sets
from science.analysis import analyze
from science.experiment_info import ExperimentInfo
from tests import rows

KEYS = {"quality": "test_perplexity", "energy": "energy_inference_kwh", "time": "latency_b1_ms",
        "size": "model_size_bytes"}
INFO = ExperimentInfo("lora_merge", "adapter", "inference", KEYS, [], {})
BASE = {0: 40.0, 1: 42.0, 2: 41.0}
MERGED = {0: 40.4, 1: 42.6, 2: 41.2}


def run(i: int, variant: str, seed: int, ppl: float, held: float, shared: int = 0) -> Run:
    values = {"seed": seed, "versions": {}, "energy_mode": "modelled", "test_perplexity": ppl + 5,
              "energy_inference_kwh": 1e-7, "latency_b1_ms": 2.0, "model_size_bytes": 1000,
              "eval_sets": ["held"], "eval_held_perplexity": held, "eval_held_tokens": 500,
              "eval_held_shared_with_train": shared}
    return rows.run(id=i, variant=variant, seed=seed, result=values, run_dir=".")


def runs(shared: int = 0) -> list[Run]:
    out = []
    for s in BASE:
        out.append(run(2 * s + 1, "adapter", s, BASE[s], BASE[s]))
        out.append(run(2 * s + 2, "merged", s, MERGED[s], MERGED[s], shared))
    return out


def test_the_change_is_a_paired_t_interval_on_log_ratios() -> None:
    got = eval_sets.relative_change(MERGED, BASE)
    assert got is not None
    logs = [math.log(MERGED[s] / BASE[s]) for s in BASE]
    m, se = sum(logs) / 3, sps.sem(logs)
    lo, hi = sps.t.interval(0.95, 2, loc=m, scale=se)
    assert got.pct == pytest.approx(100 * math.expm1(m), rel=1e-5)
    assert got.ci95 == pytest.approx([100 * math.expm1(lo), 100 * math.expm1(hi)], rel=1e-5)
    assert got.n == 3 and eval_sets.relative_change({9: 1.0}, BASE) is None  # no shared seed


def test_the_validator_shows_each_set_apart_from_the_test_split() -> None:
    a = analyze(INFO, runs(), 3)
    held = a.variants["merged"].to_json()["eval_sets"]["held"]
    assert held["perplexity"]["mean"] == pytest.approx(sum(MERGED.values()) / 3, rel=1e-6)
    assert held["tokens"] == 500 and held["shared_with_train"] == 0
    assert held["vs"]["reference"] == "adapter" and held["vs"]["pct"] > 0
    assert "vs" not in a.variants["adapter"].to_json()["eval_sets"]["held"]  # the reference point has none
    # the quality column is the test split's, not the set's
    assert a.variants["merged"].to_json()["quality"]["mean"] == pytest.approx(sum(MERGED.values()) / 3 + 5, rel=1e-6)
    lines = eval_sets.lines(a.variants)
    merged = next(line for line in lines if line.strip().startswith("merged"))
    assert f"{held['vs']['pct']:+.2f} %" in merged and "500 tokens" in merged and "NOT independent" not in merged


def test_a_set_that_shares_items_with_training_is_not_called_independent() -> None:
    a = analyze(INFO, runs(shared=4), 3)
    merged = next(line for line in eval_sets.lines(a.variants) if line.strip().startswith("merged"))
    assert "NOT independent: 4 item(s) also in the training split" in merged


def test_no_set_no_section() -> None:
    plain = [replace(r, result={k: v for k, v in (r.result or {}).items() if not k.startswith("eval_")}) for r in runs()]
    a = analyze(INFO, plain, 3)
    assert all("eval_sets" not in v.to_json() for v in a.variants.values()) and eval_sets.lines(a.variants) == []
