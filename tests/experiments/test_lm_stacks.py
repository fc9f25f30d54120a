"""Stacked techniques: the researcher's combine strategy proposes, from two rated experiments, a
child experiment that runs both with each one's best settings (pruning then quantization; a merged
LoRA adapter then the compression chain), and whose plan compares the stack with each technique
alone. Parameters are checked by the real catalog."""

from __future__ import annotations

from typing import Any

from agents.research_settings import load_settings
from agents.state import LabState
from agents.strategy import candidates
from experiments.catalog import get
from tests.experiments.test_lm_followup import _row, entry


def rated(exp_id: int, catalog: str, params: dict[str, Any], headline: str, variants: dict[str, dict[str, Any]],
          kept: bool = True, rating: float = 7.0) -> dict[str, Any]:
    breakdown = {"baseline": "x", "keys": {"quality": "test_accuracy"}, "variants": variants,
                 "headline": {"variant": headline, "quality_kept": kept, "control_valid": True, "efficiency_score": 1.0}}
    return {"id": exp_id, "catalog": catalog, "status": "done", "parent_id": None, "seeds": 3, "rating": rating,
            "rating_breakdown": breakdown, "params": params, "modifications": {}, "reject_reason": None,
            "hypothesis": "", "research_question": "", "approved_at": 1.0}


def state(*exps: dict[str, Any]) -> LabState:
    names = ("pruning", "quantization", "lora_merge", "compression_pipeline")
    entries = {n: entry(n) for n in names}
    return LabState(entries, entries, [_row(e) for e in exps], set())


def stacks(lab: LabState) -> list[Any]:
    return [t for t in candidates(lab, load_settings({}, env={}), {}) if t.rule == "stack"]


def pruning_and_quantization(kept: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    pruning = rated(3, "pruning", get("pruning").validate({"profile": "smoke"}), "structured-50",
                    {"structured-50": {"n": 3, "params": {"method": "structured", "sparsity": 0.5}}})
    quantization = rated(4, "quantization", get("quantization").validate({"profile": "smoke"}), "int8-mlp",
                         {"int8-mlp": {"n": 3, "params": {"precision": "int8", "model": "mlp"}}}, kept=kept)
    return pruning, quantization


def test_pruning_then_quantization_is_proposed_as_a_child_comparing_the_stack_with_each_technique() -> None:
    pruning, quantization = pruning_and_quantization()
    found = stacks(state(pruning, quantization))
    assert len(found) == 1
    topic = found[0]
    assert topic.catalog == "pruning" and topic.parent_id == 3 and topic.from_experiment == 4
    assert topic.params["methods"] == ["structured"] and topic.params["sparsities"] == [0.5]
    assert topic.params["quantize"] == "int8" and topic.seeds == 3
    mods = topic.modifications(3)
    assert mods is not None and mods.rule == "stack" and mods.params["quantize"] == "int8"
    exp = get("pruning")
    plan = {v.name: v for v in exp.plan(exp.validate(topic.params))}
    assert set(plan) == {"dense", "structured-50", "dense+int8", "structured-50+int8"}
    assert plan["structured-50+int8"].references == ("structured-50", "dense+int8", "dense")
    assert exp.headline_for(exp.validate(topic.params)) == "structured-50+int8"
    # once proposed (it exists), not again; a technique that lost quality is no ingredient
    lab = state(pruning, quantization, {**pruning, "id": 9, "params": topic.params, "parent_id": 3,
                                        "rating_breakdown": None, "status": "approved"})
    assert stacks(lab) == []
    assert stacks(state(*pruning_and_quantization(kept=False))) == []


def compression_experiment() -> dict[str, Any]:
    def chain(name: str, size: float, kept: bool, params: dict[str, Any]) -> dict[str, Any]:
        return {"n": 3, "params": params, "quality_kept": kept, "control_valid": True, "size": {"mean": size}}
    variants = {
        "base": {"n": 3, "params": {"stage": "base"}, "size": {"mean": 3.7e6}},
        "wanda-60": chain("wanda-60", 2.4e6, False, {"stage": "prune", "criterion": "wanda", "pattern": "unstructured",
                                                     "sparsity": 0.6, "parent": "base"}),
        "wanda-60+int4": chain("", 5.4e5, False, {"stage": "quantize", "quantization": "int4", "parent": "wanda-60"}),
        "wanda-60+int4+kd": chain("", 5.4e5, True, {"stage": "distill", "parent": "wanda-60+int4"}),
        "wanda-50+int4+kd": chain("", 6.0e5, True, {"stage": "distill", "parent": "wanda-50+int4"}),
        "magnitude-60+int4+kd": chain("", 5.3e5, False, {"stage": "distill", "parent": "magnitude-60+int4"}),
    }
    return rated(6, "compression_pipeline", get("compression_pipeline").validate({"profile": "smoke"}),
                 "wanda-60+int4+kd", variants)


def test_a_merged_adapter_then_the_smallest_chain_that_kept_quality_is_proposed() -> None:
    merge = rated(5, "lora_merge", {**get("lora_merge").validate({"profile": "smoke"}), "rank": 16,
                                    "allocation": "empirical"}, "merged-bf16",
                  {"merged-bf16": {"n": 3, "params": {"form": "merged", "precision": "bf16"}}}, kept=False)
    found = stacks(state(merge, compression_experiment()))
    assert len(found) == 1
    topic = found[0]
    assert topic.catalog == "compression_pipeline" and topic.parent_id == 5 and topic.from_experiment == 6
    p = topic.params
    assert p["start"] == "lora" and p["rank"] == 16 and p["allocation"] == "empirical"
    # the smallest chain within the target (magnitude-60's is smaller but lost quality)
    assert (p["criteria"], p["sparsities"], p["patterns"], p["orders"], p["chain_quantization"]) == \
        (["wanda"], [0.6], ["unstructured"], ["pqd"], "int4")
    exp = get("compression_pipeline")
    values = exp.validate(p)
    plan = {v.name: v for v in exp.plan(values)}
    assert {"base", "merged", "wanda-60+int4+kd", "base-wanda-60+int4+kd", "int4", "base-int4"} <= set(plan)
    stack = plan["wanda-60+int4+kd"]
    assert stack.references == ("merged", "base-wanda-60+int4+kd")  # the stack against each technique alone
    assert plan["merged"].baseline and plan["wanda-60"].params["origin"] == "merged"
    assert plan["base-wanda-60"].params["origin"] == "base" and plan["base-wanda-60"].depends_on == ("base",)
    assert exp.headline_for(values) == "wanda-60+int4+kd"
