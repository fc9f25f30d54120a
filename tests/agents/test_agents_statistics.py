"""The validator's arithmetic: statistics over seeds, deliverables, the rubric, findings and the
follow-up rules, on hand-made runs whose right answers are known."""

from __future__ import annotations

import json
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest
from scipy import stats as sps

from agents import deliverables as dl
from agents import stats
from agents.analysis import ExperimentInfo, analyze
from agents.findings import findings
from agents.followups import list_param_for, suggest
from agents.rubric import RUBRIC, rate

KEYS = {"quality": "test_accuracy", "energy": "energy_inference_kwh", "time": "latency_b1_ms",
        "size": "model_size_bytes"}
DECLARED = {"sparsities": {"type": "float_list", "min": 0.0, "max": 0.99},
            "methods": {"type": "str_list", "min": None, "max": None},
            "batch_sizes": {"type": "int_list", "min": 1, "max": 8192}}


def run(i: int, variant: str, seed: int, status: str = "succeeded", run_dir: str = ".", **result: Any) -> dict[str, Any]:
    values = {"seed": seed, "versions": {"torch": "x"}, "energy_mode": "estimated", **result}
    return {"id": i, "variant": variant, "seed": seed, "status": status, "error": None,
            "result": values if status == "succeeded" else None, "run_dir": run_dir,
            "variant_params": {"dense": {"method": "dense"}}.get(variant, {"method": "magnitude", "sparsity": 0.7})}


def pruning_runs(acc_base: list[float], acc_var: list[float], e_base: float = 4e-7, e_var: float = 1e-7) -> list[dict[str, Any]]:
    runs, i = [], 0
    for seed, (a, b) in enumerate(zip(acc_base, acc_var)):
        i += 1
        runs.append(run(i, "dense", seed, test_accuracy=a, energy_inference_kwh=e_base * (1 + 0.01 * seed),
                        latency_b1_ms=2.0 + 0.01 * seed, model_size_bytes=1000))
        i += 1
        runs.append(run(i, "magnitude-70", seed, test_accuracy=b, energy_inference_kwh=e_var * (1 + 0.01 * seed),
                        latency_b1_ms=1.0 + 0.01 * seed, model_size_bytes=250))
    return runs


INFO = ExperimentInfo("pruning", "dense", "inference", KEYS, [], DECLARED)


def test_summary_and_welch_match_scipy() -> None:
    xs, ys = [0.91, 0.93, 0.92, 0.95], [0.90, 0.88, 0.91]
    s = stats.summarize(xs)
    half = sps.t.ppf(0.975, 3) * sps.tstd(xs) / math.sqrt(4)
    assert s.n == 4 and s.mean == pytest.approx(0.9275) and s.std == pytest.approx(sps.tstd(xs))
    assert s.ci95 == pytest.approx((0.9275 - half, 0.9275 + half))
    c = stats.compare(xs, ys)
    assert c.p_value == pytest.approx(sps.ttest_ind(xs, ys, equal_var=False).pvalue)
    assert c.delta == pytest.approx(0.9275 - sum(ys) / 3)
    assert c.delta_ci95[0] < c.delta < c.delta_ci95[1]
    assert c.effect_size is not None and c.effect_size > 0


def test_degenerate_samples_say_what_they_cannot_give() -> None:
    assert stats.summarize([]).mean is None
    one = stats.summarize([0.5, None, float("nan"), True])  # only 0.5 is a measurement
    assert one.n == 1 and one.ci95 is None
    assert stats.compare([0.9], [0.8]).p_value is None
    exact = stats.compare([2.0, 2.0], [4.0, 4.0])  # deterministic sizes: an exact difference
    assert exact.p_value == 0.0 and exact.delta_ci95 == (-2.0, -2.0)
    assert stats.ratio(1.0, 0.0) is None and stats.ratio(4.0, 2.0) == 2.0


def test_analysis_gives_records_shapes_and_the_efficiency_score() -> None:
    runs = pruning_runs([0.95, 0.96, 0.94], [0.95, 0.955, 0.945])
    a = analyze(INFO, runs, 3)
    v = a.variants["magnitude-70"]
    base_e = sum(4e-7 * (1 + 0.01 * s) for s in range(3)) / 3
    var_e = sum(1e-7 * (1 + 0.01 * s) for s in range(3)) / 3
    assert v["efficiency_score"] == pytest.approx((0.95 / 0.95) * base_e / var_e, rel=1e-3)
    assert v["speedup"] == pytest.approx(2.01 / 1.01, rel=1e-3) and v["compression"] == 4.0
    assert set(v["quality"]) == {"mean", "std", "ci95"} and len(v["quality_delta"]["ci95"]) == 2
    assert v["quality_kept"] is True and v["energy_estimated"] is True
    assert a.headline["variant"] == "magnitude-70" and a.headline["efficiency_score"] == v["efficiency_score"]
    json.dumps(a.variants)  # the breakdown is JSON


def test_rubric_awards_each_point_with_its_evidence() -> None:
    runs = pruning_runs([0.95, 0.952, 0.951], [0.951, 0.95, 0.953])
    for r in runs:
        r["result"]["energy_mode"] = "measured"
    a = analyze(INFO, runs, 3)
    checked = dl.check_all([{"kind": "contains_keys", "keys": ["test_accuracy"]}],
                           dl.Context(runs, "dense", KEYS))
    rating, criteria = rate(a, checked)
    points = {c["id"]: c["points"] for c in criteria}
    assert [c["id"] for c in criteria] == [c.id for c in RUBRIC] and len(RUBRIC) == 10
    assert points == {"produced": 1, "executed": 1, "deliverables": 1, "seeds": 1, "significant": 1,
                      "quality_kept": 1, "e2": 1, "e5": 0, "measured": 1, "reproducible": 1}
    assert rating == 9
    evidence = {c["id"]: c["evidence"] for c in criteria}
    assert "6 of 6 runs succeeded" in evidence["executed"]
    assert "Welch p" in evidence["significant"] and "E = 4.00" in evidence["e2"]


def test_a_failed_experiment_rates_one_and_says_why() -> None:
    runs = [run(1, "dense", 0, status="failed"), run(2, "magnitude-70", 0, status="failed")]
    a = analyze(INFO, runs, 1)
    rating, criteria = rate(a, [])
    assert rating == 1 and all(c["points"] == 0 for c in criteria)
    assert "0 of 2 runs succeeded" in criteria[0]["evidence"]
    assert any(f.kind == "failed" for f in findings(7, a, runs))


def test_deliverables_of_every_kind(tmp_path: Path) -> None:
    good, bad = tmp_path / "r1", tmp_path / "r2"
    good.mkdir()
    bad.mkdir()
    with zipfile.ZipFile(good / "model.pt", "w") as z:
        z.writestr("model/data.pkl", pickle.dumps({"weights": [1.0, 2.0]}))  # torch.save's layout, no storages
    (bad / "model.pt").write_bytes(b"PK\x03\x04 truncated")
    (good / "metrics.json").write_text('{"a": 1}')
    runs = pruning_runs([0.95, 0.96, 0.94], [0.80, 0.81, 0.79])
    for r in runs:
        r["run_dir"] = str(good)
    ctx = dl.Context(runs, "dense", KEYS, {1: [{"path": "model.pt", "kind": "model"}]})
    out = dl.check_all([
        {"kind": "contains_keys", "keys": ["test_accuracy", "nope"]},
        {"kind": "threshold", "key": "test_accuracy", "op": ">=", "value": 0.9, "variant": "baseline"},
        {"kind": "threshold", "key": "test_accuracy", "op": ">=", "value": 0.9, "variant": "magnitude-70"},
        {"kind": "threshold", "key": "test_accuracy", "op": ">=", "value": 0.9, "variant": "int8-mlp"},
        {"kind": "exists_and_loadable", "path": "model.pt"},
        {"kind": "exists_and_loadable", "path": "metrics.json", "variant": "dense"},
        {"kind": "statistical_test", "key": "test_accuracy", "variant": "magnitude-70", "expect": "less"},
        {"kind": "statistical_test", "key": "test_accuracy", "variant": "magnitude-70", "expect": "not_worse"},
        {"kind": "mystery"},
    ], ctx)
    assert [d["ok"] for d in out] == [False, True, False, None, True, True, True, False, None]
    assert "lack nope" in out[0]["detail"] and "mean 0.95 >= 0.9" in out[1]["detail"]
    runs[0]["run_dir"] = str(bad)
    broken = dl.check_all([{"kind": "exists_and_loadable", "path": "model.pt", "variant": "dense"}], ctx)
    assert broken[0]["ok"] is False and "not loadable" in broken[0]["detail"]


def test_findings_are_sentences_from_the_numbers() -> None:
    a = analyze(INFO, pruning_runs([0.95, 0.96, 0.94], [0.90, 0.91, 0.89]), 3)
    found = {f.kind: f for f in findings(12, a, pruning_runs([0.95, 0.96, 0.94], [0.90, 0.91, 0.89]))}
    assert "experiment 12: baseline dense reaches test_accuracy 95.0 %" in found["baseline"].text
    assert found["tradeoff"].text.startswith("magnitude-70 trades quality for efficiency: -5.0 points")
    assert found["tradeoff"].data["efficiency_score"] == pytest.approx(a.variants["magnitude-70"]["efficiency_score"])


def test_follow_ups_from_the_evidence() -> None:
    exp = {"id": 5, "seeds": 3, "params": {"sparsities": [0.3, 0.5, 0.7], "methods": ["magnitude", "structured"],
                                           "profile": "smoke"}, "modifications": {}}
    a = analyze(INFO, pruning_runs([0.95, 0.97, 0.93], [0.96, 0.92, 0.95]), 3)
    breakdown = {"variants": a.variants, "baseline": "dense", "headline": a.headline, "keys": KEYS}
    kinds = {f.kind: f for f in suggest(exp, breakdown, DECLARED)}
    more, ext = kinds["more_seeds"], kinds["extend_range"]
    assert more.seeds == 6 and "too wide" in more.rationale
    assert [(d["kind"], d["expect"]) for d in more.deliverables] == [("statistical_test", "not_worse"),
                                                                     ("statistical_test", "less")]
    assert more.changes == {"sparsities": [0.7], "methods": ["magnitude"]}  # focused on the best variant
    assert ext.changes == {"sparsities": [0.7, 0.9], "methods": ["magnitude"]} and ext.seeds == 3
    assert "largest sparsity tested" in ext.rationale
    exp["modifications"] = {"kind": "more_seeds"}
    assert "more_seeds" not in {f.kind for f in suggest(exp, breakdown, DECLARED)}  # no second doubling


def test_list_parameters_are_found_by_name_and_value() -> None:
    params = {"sparsities": [0.3, 0.7], "batch_sizes": [8, 16], "methods": ["magnitude"]}
    assert list_param_for("sparsity", 0.7, params, DECLARED) == "sparsities"
    assert list_param_for("batch_size", 16, params, DECLARED) == "batch_sizes"
    assert list_param_for("method", "magnitude", params, DECLARED) == "methods"
    assert list_param_for("sparsity", 0.9, params, DECLARED) is None
