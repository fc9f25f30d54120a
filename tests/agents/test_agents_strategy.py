"""The researcher's strategy and the architect's seeds, on a hand-made picture of the lab:
the sweep first, rejected entries left aside, follow-ups, combinations, diagnosed retries."""

from __future__ import annotations

from typing import Any

from agents.architect import Architect
from agents.research_settings import load_settings
from agents.state import LabState
from agents.strategy import candidates, in_strategy_order, rejected_notes
from contract.catalog_answer import CatalogEntry
from contract.params import Param
from db import Experiment, Run
from science.diagnosis import diagnose
from tests import rows as store_rows

SETTINGS = load_settings({"research": {"seeds": 3}}, env={})


def entry(name: str, *extra: Param) -> CatalogEntry:
    params = [Param("profile", "choice", "default", choices=["smoke", "default", "full"]),
              Param("device", "choice", "cpu", choices=["cpu", "cuda"]),
              Param("epochs", "int", 0, min=0, max=1000), *extra]
    return CatalogEntry(name, name, "test", "training", f"{name} summary.", "Lit says so. More.", ["Ref 2020"],
                        "base", {"quality": "test_accuracy", "energy": "energy_kwh"}, params, ())


ENTRIES = {"logreg": entry("logreg", Param("batch_size", "int", 64, min=1, max=4096)),
           "pruning": entry("pruning", Param("sparsities", "float_list", [0.3, 0.5], min=0.0, max=0.99),
                            Param("batch_size", "int", 64, min=1, max=4096)),
           "batch_size": entry("batch_size", Param("batch_sizes", "int_list", [8, 16], min=1, max=8192))}


def exp(i: int, catalog: str, status: str = "done", **kw: Any) -> Experiment:
    base = {"id": i, "name": f"{catalog}-{i}", "catalog": catalog, "status": status, "parent_id": None, "seeds": 5,
            "rating": None, "rating_breakdown": None, "params": {"profile": "smoke"}, "modifications": {},
            "reject_reason": None, "hypothesis": "", "research_question": "", "approved_at": 1.0}
    return store_rows.experiment(**{**base, **kw})


def rated(e: float, variant_params: dict[str, Any], catalog: str, **kw: Any) -> dict[str, Any]:
    variant = {"n": 5, "params": variant_params, "quality": {"mean": 0.9, "std": 0.001, "ci95": [0.899, 0.901]},
               "quality_delta": {"mean": 0.0, "ci95": [-0.002, 0.002]}, "energy_p_value": 0.001,
               "efficiency_score": e}
    return {"rating": 7.0, "rating_breakdown": {
        "baseline": "base", "keys": {"quality": "test_accuracy"},
        "variants": {"base": {"n": 5, "params": {}, "quality": variant["quality"]}, "best": variant},
        "headline": {"variant": "best", "efficiency_score": e, "speedup": 1.2, "compression": None,
                     "quality_delta": 0.0, "quality_delta_ci95": [-0.002, 0.002], "quality_kept": True}}, **kw}


def state(*experiments: Experiment, in_sprint: set[int] | None = None) -> LabState:
    return LabState(dict(ENTRIES), dict(ENTRIES), list(experiments), in_sprint or set())


def test_the_sweep_comes_first_in_catalog_order_and_rejections_are_left_aside() -> None:
    s = state(exp(1, "logreg", status="rejected", reject_reason="too slow today"))
    topics = candidates(s, SETTINGS, {})
    assert [(t.kind, t.catalog) for t in topics] == [("sweep", "pruning"), ("sweep", "batch_size")]
    assert "Lit says so." in topics[0].evidence[1]
    assert rejected_notes(s) == ["logreg (experiment 1 rejected: too slow today)"]


def test_after_the_sweep_waiting_follow_ups_then_combinations() -> None:
    s = state(exp(1, "logreg", **rated(1.5, {"model": "x"}, "logreg")),
              exp(2, "pruning", params={"profile": "smoke", "sparsities": [0.3, 0.5], "batch_size": 64},
                  **rated(2.0, {"sparsity": 0.3}, "pruning")),
              exp(3, "batch_size", params={"profile": "smoke", "batch_sizes": [8, 16]},
                  **rated(3.0, {"batch_size": 16}, "batch_size")),
              exp(4, "pruning", status="awaiting_approval", parent_id=2, hypothesis="h", research_question="q",
                  modifications={"kind": "extend_range", "rationale": "edge"}))
    assert candidates(s, SETTINGS, {})[0].adopt_id == 4  # the roadmap's steering answers a waiting proposal first
    topics = in_strategy_order(s, SETTINGS, {})  # the steering then puts combinations (phase 3) before
    kinds = [t.kind for t in topics]             # follow-ups of smoke runs (they count for no criterion)
    assert kinds[0] == "adopt" and topics[0].adopt_id == 4
    follow = [t for t in topics if t.kind == "follow_up"]
    assert follow[0].changes == {"sparsities": [0.1, 0.3]} and follow[0].parent_id == 2  # one step below
    assert follow[1].changes == {"batch_sizes": [16, 32]}  # doubling lists double
    combos = [t for t in topics if t.kind == "combination"]
    assert [c.catalog for c in combos] == ["pruning", "logreg"]  # both declare a scalar batch_size
    combo = combos[0]
    # batch_size's best setting carried to pruning's scalar batch_size, pruning narrowed to its best variant
    assert combo.changes == {"batch_size": 16, "sparsities": [0.3]} and combos[1].changes == {"batch_size": 16}
    assert combo.parent_id == 2 and combo.from_experiment == 3
    assert kinds.index("adopt") < kinds.index("follow_up") < kinds.index("combination")


def failed_run(i: int, error: str, status: str = "failed") -> Run:
    return store_rows.run(id=i, status=status, error=error)


def test_failed_experiments_are_retried_with_a_diagnosis() -> None:
    s = state(exp(1, "logreg", **rated(1.0, {}, "logreg")), exp(2, "pruning", **rated(1.0, {}, "pruning")),
              exp(3, "batch_size", status="failed", params={"profile": "default"}),
              exp(4, "batch_size", status="failed", params={"profile": "smoke"}, parent_id=9,
                  modifications={"kind": "retry"}))
    runs = {3: [failed_run(10, "ran longer than its timeout of 60 s", "timed_out"),
                failed_run(11, "dependency base (run 10) timed_out")],
            4: [failed_run(12, "exit code 1: ValueError: bad shape")]}
    retries = [t for t in candidates(s, SETTINGS, runs) if t.kind == "retry"]
    assert len(retries) == 1 and retries[0].parent_id == 3 and retries[0].changes == {"profile": "smoke"}
    assert "ran past their timeout" in retries[0].rationale and "runs 10" in retries[0].rationale
    again = diagnose(runs[4], ENTRIES["batch_size"], {"profile": "smoke"}, is_retry=True)
    assert not again.retry and "deterministic" in again.text
    oom = diagnose([failed_run(1, "out of memory: resident memory 900 MB exceeded")], ENTRIES["logreg"],
                   {"batch_size": 64}, is_retry=False)
    assert oom.changes == {"batch_size": 32}
    gpu = diagnose([failed_run(1, "needs a GPU but this lab has none")], ENTRIES["logreg"], {"device": "cuda"}, False)
    assert gpu.changes == {"device": "cpu"}


def test_more_seeds_after_high_variance() -> None:
    noisy = rated(1.0, {}, "pruning")
    noisy["rating_breakdown"]["variants"]["best"]["quality"]["std"] = 0.04
    architect = Architect(None, SETTINGS, None, None)  # type: ignore[arg-type]
    notes: list[str] = []
    topic = candidates(state(exp(1, "pruning", **noisy)), SETTINGS, {})[0]  # the sweep of logreg
    assert architect.seeds(topic, state(exp(1, "pruning", **noisy)), notes) == 3  # logreg never varied
    topic.catalog = "pruning"
    assert architect.seeds(topic, state(exp(1, "pruning", **noisy)), notes) == 5
    assert "quality varied by 4.0 points (std) in experiment 1" in notes[0]
    # a perplexity's spread is a share of its mean, never points: 1.5 at 145 is 1 %, 4 at 145 is 2.8 %
    lm = rated(1.0, {}, "pruning")
    lm["rating_breakdown"]["keys"] = {"quality": "test_perplexity"}
    lm["rating_breakdown"]["variants"]["best"]["quality"] = {"mean": 145.0, "std": 1.5, "ci95": None}
    notes = []
    assert architect.seeds(topic, state(exp(1, "pruning", **lm)), notes) == 3 and not notes
    lm["rating_breakdown"]["variants"]["best"]["quality"]["std"] = 4.0
    assert architect.seeds(topic, state(exp(1, "pruning", **lm)), notes) == 5
    assert "quality varied by 2.8 % of its mean (std 4.00 ppl) in experiment 1" in notes[0]
