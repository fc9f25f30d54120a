"""What counts as a result (science/counting.py): a reproduction is its original's evidence, never a
result of its own; a re-run of the same entry and parameters supersedes the earlier runs; the
roadmap counts the same way."""

from __future__ import annotations

from typing import Any

from db import Experiment
from science.counting import count
from science.roadmap_standing import counted, evaluate
from tests import rows as store_rows

ORIGINAL = {"keys": {"quality": "test_accuracy"},
            "variants": {"base": {"quality": {"n": 5, "mean": 0.9, "ci95": [0.88, 0.92]}},
                         "fast": {"quality": {"n": 5, "mean": 0.89, "ci95": [0.87, 0.91]}}}}


def exp(i: int, rating: float, *, catalog: str = "pruning", params: dict[str, Any] | None = None,
        fast: float = 0.89, valid: bool = True, **extra: Any) -> Experiment:
    variants = {"base": {"n": 5, "quality": {"mean": 0.9, "ci95": [0.88, 0.92]}},
                "fast": {"n": 5, "quality": {"mean": fast, "ci95": [fast - 0.01, fast + 0.01]}}}
    headline = {"variant": "fast", "reference": "base", "quality_kept": True, "control_valid": valid,
                "control_note": "" if valid else "the reference received fewer optimizer steps (under-budgeted)",
                "efficiency_score": 1.5, "e_ci": [1.2, 1.8], "quality_delta_ci95": [-0.02, 0.0]}
    return store_rows.experiment(**{"id": i, "catalog": catalog, "name": f"{catalog}-{i}", "status": "done", "seeds": 5,
            "params": params or {"profile": "default", "sparsity": 0.5}, "rating": rating,
            "rating_breakdown": {"rating": rating, "keys": {"quality": "test_accuracy"}, "variants": variants,
                                 "headline": headline},
            "metadata": {}, "modifications": {}, "parent_id": None, **extra})


def repro(i: int, of: int, rating: float, fast: float) -> Experiment:
    return exp(i, rating, fast=fast, modifications={"kind": "reproduction", "of": of, "original": ORIGINAL},
               metadata={"reproduction": {"of": of}}, parent_id=of)


def test_a_reproduction_is_its_originals_evidence_with_the_reproduce_check() -> None:
    exps = [exp(1, 8), repro(2, 1, 7, fast=0.895), repro(3, 2, 6, fast=0.95)]
    c = count(exps)
    assert [r.id for r in c.results] == [1] and c.folded == {2, 3}
    within, outside = c.results[0].reproductions   # a reproduction of a reproduction supports the first original
    assert (within.id, within.of, within.rating, within.reproduced) == (2, 1, 7.0, True)
    assert outside.reproduced is False and "fast test_accuracy 0.95 outside 0.87..0.91" in outside.sentence
    assert [ch.within for ch in within.checks if ch.role == "quality"] == [True, True]
    assert c.results[0].lines()[0].startswith("exp 1 re-run from its record as exp 2 (rated 7/10): reproduced: ")
    # the roadmap: the reproduction meets "reproduced results" and is no extra rated experiment
    s = evaluate(exps)
    assert s.counted == (1,) and s.of("p2.reproduced").met and s.of("p2.reproduced").experiments == (2,)
    assert "exp 1 reproduced by exp 2" in s.of("p2.reproduced").evidence
    assert "1 rated ≥ 8/10" in s.of("p2.three_top").evidence


def test_the_latest_run_of_the_same_entry_and_parameters_supersedes_the_earlier_ones() -> None:
    other = exp(4, 9, params={"profile": "default", "sparsity": 0.9})
    exps = [exp(1, 10), repro(2, 1, 10, fast=0.89), exp(3, 4, valid=False), other, exp(5, 8, catalog="quantization")]
    c = count(exps)
    assert [r.id for r in c.results] == [3, 4, 5] and c.folded == {1, 2}
    latest = c.of(3)
    assert latest is not None and [x.id for x in latest.supersedes] == [1] and latest.supersedes[0].reproductions[0].id == 2
    line, = latest.lines()
    assert line == ("exp 3 supersedes exp 1 (the same entry and parameters, run earlier, rated 10/10; exp 2 re-ran "
                    "it from its record: reproduced): rating 10/10 → 4/10; verdict quality kept → comparison void "
                    "(under-budgeted).")
    assert [r.lines() for r in c.results if r.id != 3] == [[], []]
    # the roadmap counts the latest only: one experiment rated ≥ 8 less, none reproduced
    assert [e.id for e in counted(exps)] == [3, 4, 5]
    s = evaluate(exps)
    assert "2 rated ≥ 8/10: exp 4" in s.of("p2.three_top").evidence and not s.of("p2.reproduced").met


def test_an_unchanged_re_run_says_so_and_a_preliminary_run_supersedes_nothing() -> None:
    smoke = exp(3, 3, params={"profile": "default", "sparsity": 0.5}, seeds=2)
    c = count([exp(1, 8), exp(2, 8), smoke])
    assert [r.id for r in c.results] == [2]
    assert c.results[0].lines() == ["exp 2 supersedes exp 1 (the same entry and parameters, run earlier, rated "
                                    "8/10): same rating and verdict."]
