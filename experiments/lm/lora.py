"""LoRA adapters (peft): fixed ranks, and adaptive rank allocations with the trainable-parameter
budget of a fixed rank.

A module of shape d_in -> d_out adapted at rank r trains r * (d_in + d_out) parameters. The
adaptive allocations give each module a weight and share the budget of ``budget_rank`` on every
module in proportion to it (integer ranks, at least 1, at most min(d_in, d_out)):

- ``linear_decay``: weight L - l for decoder block l of L (the first block gets the most rank);
- ``attention_heavy``: ``attention_weight`` for attention projections, 1 for MLP projections;
- ``empirical``: each module's mean gradient norm (Frobenius, of its frozen weight) over a short
  probe of fine-tuning batches, measured on the base model before training.

Every allocation is checked against the budget (``BUDGET_TOLERANCE``) after peft built it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers.pytorch_utils import Conv1D

from contract.events import ResultValues

from .models import Target

ALLOCATIONS = ("fixed", "linear_decay", "attention_heavy", "empirical")
BUDGET_TOLERANCE = 0.02


class BudgetError(AssertionError):
    """An adaptive allocation missed its parameter budget (a bug of ours, never the user's)."""


def budget(targets: list[Target], rank: int) -> int:
    return sum(rank * t.cost for t in targets)


def weights(targets: list[Target], allocation: str, attention_weight: float = 3.0,
            grad_norms: dict[str, float] | None = None) -> list[float]:
    if allocation == "linear_decay":
        layers = max(t.layer for t in targets) + 1
        return [float(layers - t.layer) for t in targets]
    if allocation == "attention_heavy":
        return [attention_weight if t.kind == "attention" else 1.0 for t in targets]
    if allocation == "empirical":
        if grad_norms is None:
            raise ValueError("the empirical allocation needs the probe's gradient norms")
        floor = max(grad_norms.values()) * 1e-3 if grad_norms else 1.0
        return [max(grad_norms[t.name], floor) for t in targets]
    return [1.0 for _ in targets]


def allocate(targets: list[Target], w: list[float], budget_rank: int) -> dict[str, int]:
    """Integer ranks proportional to ``w`` whose parameter count is the budget of ``budget_rank``
    everywhere, as closely as whole ranks allow (greedy repair of the rounding)."""
    goal = budget(targets, budget_rank)
    scale = goal / sum(wi * t.cost for wi, t in zip(w, targets))
    raw = [wi * scale for wi in w]
    caps = [min(t.d_in, t.d_out) for t in targets]
    ranks = [min(cap, max(1, round(r))) for r, cap in zip(raw, caps)]
    smallest = min(t.cost for t in targets)
    for _ in range(100 * len(targets)):
        diff = goal - sum(r * t.cost for r, t in zip(ranks, targets))
        if abs(diff) <= smallest / 2:
            break
        if diff > 0:
            options = [i for i in range(len(targets)) if ranks[i] < caps[i] and targets[i].cost <= diff + smallest / 2]
            if not options:
                break
            i = max(options, key=lambda j: raw[j] - ranks[j])
            ranks[i] += 1
        else:
            options = [i for i in range(len(targets)) if ranks[i] > 1]
            if not options:
                break
            i = min(options, key=lambda j: raw[j] - ranks[j])
            ranks[i] -= 1
    return {t.name: r for t, r in zip(targets, ranks)}


def lora_config(suffixes: Iterable[str], rank: int, ranks: dict[str, int] | None = None,
                fan_in_fan_out: bool = False) -> LoraConfig:
    """alpha = 2r for every module (the fixed ranks' convention, kept per module by alpha_pattern).
    ``fan_in_fan_out`` for GPT-2's transposed Conv1D layers."""
    pattern = {re.escape(name): r for name, r in (ranks or {}).items()}
    return LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(suffixes), lora_dropout=0.0,
                      bias="none", task_type="CAUSAL_LM", rank_pattern=pattern,
                      alpha_pattern={k: 2 * r for k, r in pattern.items()}, fan_in_fan_out=fan_in_fan_out)


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def wrap(model: nn.Module, suffixes: Iterable[str], rank: int, ranks: dict[str, int] | None = None) -> PeftModel:
    suffixes = list(suffixes)
    transposed = any(isinstance(m, Conv1D) for n, m in model.named_modules() if n.rsplit(".", 1)[-1] in suffixes)
    return get_peft_model(model, lora_config(suffixes, rank, ranks, fan_in_fan_out=transposed))


def check_budget(model: nn.Module, goal: int, label: str) -> float:
    """The trainable parameters of ``model`` over ``goal``; BudgetError beyond the tolerance."""
    ratio = trainable_params(model) / goal
    if abs(ratio - 1) > BUDGET_TOLERANCE:
        raise BudgetError(f"{label}: {trainable_params(model)} trainable parameters against a budget of "
                          f"{goal} ({(ratio - 1) * 100:+.2f} %, tolerance {BUDGET_TOLERANCE * 100:g} %)")
    return ratio


def gradient_norms(model: nn.Module, targets: list[Target], next_batch: Callable[[], dict[str, torch.Tensor]],
                   steps: int, device: torch.device) -> dict[str, float]:
    """Mean Frobenius norm of each target weight's gradient over ``steps`` batches (no update)."""
    modules = dict(model.named_modules())
    weights_ = {t.name: modules[t.name].weight for t in targets}
    saved = {id(p): p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    for w in weights_.values():
        w.requires_grad_(True)
    sums = {name: 0.0 for name in weights_}
    model.train()
    try:
        for _ in range(max(1, steps)):
            batch = {k: v.to(device) for k, v in next_batch().items()}
            model.zero_grad(set_to_none=True)
            model(**batch).loss.backward()
            for name, w in weights_.items():
                sums[name] += float(w.grad.norm()) if w.grad is not None else 0.0
    finally:
        model.zero_grad(set_to_none=True)
        for p in model.parameters():
            p.requires_grad_(saved[id(p)])
    return {name: s / max(1, steps) for name, s in sums.items()}


def rank_summary(targets: list[Target], ranks: dict[str, int]) -> ResultValues:
    """Ranks by block and by kind, for the result (what the allocation did)."""
    by_layer: dict[int, list[int]] = {}
    by_kind: dict[str, list[int]] = {}
    for t in targets:
        by_layer.setdefault(t.layer, []).append(ranks[t.name])
        by_kind.setdefault(t.kind, []).append(ranks[t.name])
    return {"rank_by_layer_mean": [round(sum(v) / len(v), 2) for _, v in sorted(by_layer.items())],
            "rank_by_kind_mean": {k: round(sum(v) / len(v), 2) for k, v in sorted(by_kind.items())},
            "rank_min": min(ranks.values()), "rank_max": max(ranks.values())}
