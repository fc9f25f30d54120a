"""A lora_rank result leads to a lora_merge child experiment (genealogy): the best adapter's
settings, the parent's shared parameters, parameters the real catalog accepts."""

from __future__ import annotations

from typing import Any

from agents.research_settings import load_settings
from agents.state import LabState, declared_lists
from agents.strategy import candidates
from contract.catalog_answer import CatalogEntry
from db import Experiment
from experiments.catalog import get
from science.followups import suggest

PARENT_PARAMS = {"profile": "smoke", "data": "", "model": "", "lora_targets": "auto", "steps": 0,
                 "methods": ["full", "fixed", "adaptive"], "ranks": [8, 16],
                 "allocations": ["linear_decay", "attention_heavy", "empirical"], "budget_rank": 8,
                 "attention_weight": 3.0}


def variant(params: dict[str, Any], quality: float) -> dict[str, Any]:
    return {"n": 3, "params": params, "quality": {"mean": quality, "ci95": [quality - 0.01, quality + 0.01]}}


def lora_rank_experiment() -> dict[str, Any]:
    variants = {
        "base": variant({"method": "base"}, 0.20),
        "full": variant({"method": "full"}, 0.31),
        "lora-r8": variant({"method": "lora", "rank": 8, "allocation": "fixed"}, 0.27),
        "lora-r16": variant({"method": "lora", "rank": 16, "allocation": "fixed"}, 0.29),
        "lora-empirical": variant({"method": "lora", "rank": 8, "allocation": "empirical"}, 0.28),
    }
    breakdown = {"baseline": "full", "keys": {"quality": "test_token_accuracy"}, "variants": variants,
                 "headline": None}
    return {"id": 7, "catalog": "lora_rank", "status": "done", "parent_id": None, "seeds": 3, "rating": 6.0,
            "rating_breakdown": breakdown, "params": dict(PARENT_PARAMS), "modifications": {},
            "reject_reason": None, "hypothesis": "", "research_question": "", "approved_at": 1.0}


def entry(name: str) -> CatalogEntry:
    exp = get(name)
    assert exp is not None
    return exp.entry()


def test_the_best_adapter_of_lora_rank_becomes_a_lora_merge_child() -> None:
    e = _row(lora_rank_experiment())
    rated = e.breakdown
    children = [f for f in suggest(e, rated, declared_lists(entry("lora_rank"))) if f.kind == "child"]
    assert len(children) == 1
    child = children[0]
    assert child.catalog == "lora_merge" and child.changes == {"rank": 16, "allocation": "fixed"}
    assert child.params is not None
    assert child.params["rank"] == 16 and child.params["lora_targets"] == "all"  # as lora_rank adapted them
    assert not {"methods", "ranks", "allocations", "budget_rank"} & set(child.params)
    hypothesis, question = child.texts(7, 3, "test_token_accuracy", "full")
    assert "lora-r16" in hypothesis and "experiment 7" in question and "1.7 %" in hypothesis
    values = get("lora_merge").validate(child.params)  # the real catalog accepts the child's parameters
    assert values["rank"] == 16 and values["profile"] == "smoke"


def _row(exp: dict[str, Any]) -> Experiment:
    """The store's row of an experiment written here as a dict."""
    return Experiment.of({"name": exp["catalog"], "plan": [], **exp})


def test_the_researcher_proposes_the_child_with_its_parent() -> None:
    entries = {"lora_rank": entry("lora_rank"), "lora_merge": entry("lora_merge")}
    parent = lora_rank_experiment()
    merge_run = {**lora_rank_experiment(), "id": 1, "catalog": "lora_merge", "rating_breakdown": None,
                 "params": {"profile": "smoke"}}
    lab = LabState(entries, entries, [_row(merge_run), _row(parent)], set())
    topics = [t for t in candidates(lab, load_settings({}, env={}), {}) if t.kind == "follow_up"]
    child = next(t for t in topics if t.catalog == "lora_merge")
    assert child.parent_id == 7 and child.params["rank"] == 16 and child.seeds == 3
    assert "lora-r16 is the best adapter of experiment 7" in child.rationale
    # once it exists, it is not proposed again
    lab.experiments.append(_row({**merge_run, "id": 8, "params": child.params, "parent_id": 7}))
    again = [t for t in candidates(lab, load_settings({}, env={}), {}) if t.catalog == "lora_merge"
             and t.kind == "follow_up"]
    assert again == []
