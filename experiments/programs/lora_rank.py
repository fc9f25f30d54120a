"""lora_rank: the base model, full fine-tuning, LoRA at fixed ranks, and adaptive rank allocations
with the trainable-parameter budget of a fixed rank, all fine-tuned on the same batches."""

from __future__ import annotations

import time
from typing import Any

from torch import nn

from ..harness.context import RunContext
from ..lm import lora
from ..lm.models import target_suffixes, targets
from ..lm.session import BASE, PROBE_SEED_OFFSET, LMRun, run_base

DEFAULT_TARGETS = "all"  # attention and MLP projections: the allocations move rank between them


def adapter_maker(lm: LMRun, model: nn.Module, rank: int, allocation: str, attention_weight: float,
                  default_targets: str = DEFAULT_TARGETS) -> Any:
    """A `make()` for LMRun.fine_tune: wraps ``model`` in LoRA adapters of ``allocation`` at the
    trainable-parameter budget of ``rank`` (the empirical allocation first runs its gradient
    probe, so the probe's cost is this variant's training cost)."""
    suffixes = target_suffixes(model, lm.s.lora_targets, default_targets)
    mods = targets(model, suffixes)
    goal = lora.budget(mods, rank)

    def make() -> tuple[nn.Module, dict[str, Any]]:
        values: dict[str, Any] = {"rank": rank, "allocation": allocation, "lora_alpha_rule": "2r",
                                  "lora_targets": list(suffixes), "lora_modules": len(mods),
                                  "lora_budget_params": goal}
        norms = None
        if allocation == "empirical":
            t0 = time.perf_counter()
            norms = lora.gradient_norms(model, mods, lm.train_batches(PROBE_SEED_OFFSET), lm.s.probe_steps,
                                        lm.device)
            values.update({"probe_steps": lm.s.probe_steps, "probe_time_s": time.perf_counter() - t0,
                           "grad_norm_by_kind": _mean_by_kind(mods, norms)})
        if allocation == "fixed":
            ranks = {t.name: rank for t in mods}
            peft_model = lora.wrap(model, suffixes, rank)
        else:
            ranks = lora.allocate(mods, lora.weights(mods, allocation, attention_weight, norms), rank)
            peft_model = lora.wrap(model, suffixes, rank, ranks)
        values["budget_ratio"] = lora.check_budget(peft_model, goal, f"{allocation} at the budget of rank {rank}")
        values.update(lora.rank_summary(mods, ranks))
        values["ranks"] = ranks
        return peft_model, values

    return make


def _mean_by_kind(mods: list[Any], norms: dict[str, float]) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for t in mods:
        out.setdefault(t.kind, []).append(norms[t.name])
    return {k: sum(v) / len(v) for k, v in sorted(out.items())}


def run(ctx: RunContext) -> dict[str, Any]:
    lm = LMRun(ctx)
    p = ctx.params
    if p["method"] == BASE:
        return run_base(lm)
    lm.encoded()
    base = lm.load_base()
    if p["method"] == "full":
        def full(model: nn.Module) -> Any:
            def make() -> tuple[nn.Module, dict[str, Any]]:
                for param in model.parameters():
                    param.requires_grad_(True)
                return model, {"method": "full", "rank": None, "allocation": None}
            return make
        model, values = lm.fine_tune(full(base), lm.s.lr_full, remake=lambda: full(lm.load_base()))
        # the weights' bytes, as save_pretrained would store them (not written: a user's model may be large)
        # (tied embeddings count once: parameters() yields a shared tensor once)
        values["model_size_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    else:
        def adapters(model: nn.Module) -> Any:
            return adapter_maker(lm, model, int(p["rank"]), str(p["allocation"]), float(p["attention_weight"]))
        model, values = lm.fine_tune(adapters(base), lm.s.lr_lora, remake=lambda: adapters(lm.load_base()))
        values["method"] = "lora"
        _, values["model_size_bytes"] = lm.save(model, "adapter")
        values["adapter_size_bytes"] = values["model_size_bytes"]
    values.update(lm.inference(model))
    reference = lm.base_result().get("test_perplexity")
    values["base_test_perplexity"] = reference
    if reference:
        values["perplexity_vs_base"] = values["test_perplexity"] / reference
    return values
