"""pruning: train the dense MLP, or prune its checkpoint (magnitude, structured, gradual) and fine-tune."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..harness.context import RunContext
from ..harness.models import MLP, build
from ..harness.pipeline import inference_phase, standard_run, static_measures, train_phase
from ..harness.train import TrainConfig


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def global_magnitude_masks(model: nn.Module, sparsity: float) -> dict[nn.Linear, torch.Tensor]:
    """Keep the largest |w| across all linear weight matrices together (biases are kept)."""
    layers = _linears(model)
    scores = torch.cat([m.weight.detach().abs().flatten() for m in layers])
    k = int(sparsity * scores.numel())
    if k == 0:
        return {m: torch.ones_like(m.weight, dtype=torch.bool) for m in layers}
    threshold = torch.kthvalue(scores.cpu(), k).values.item()
    return {m: m.weight.detach().abs() > threshold for m in layers}


def apply_masks(masks: dict[nn.Linear, torch.Tensor]) -> None:
    with torch.no_grad():
        for m, mask in masks.items():
            m.weight.mul_(mask)


def structured_prune(model: MLP, sparsity: float, arch: dict[str, Any]) -> tuple[MLP, dict[str, Any]]:
    """Physically remove the fraction ``sparsity`` of each hidden layer's neurons, keeping those
    with the largest L2 norm of incoming weights; returns a smaller dense MLP and its arch."""
    layers = _linears(model)
    keep_idx = []
    for layer in layers[:-1]:
        n = layer.out_features
        keep = max(1, round(n * (1 - sparsity)))
        norms = layer.weight.detach().norm(dim=1)
        keep_idx.append(torch.sort(torch.topk(norms, keep).indices).values)
    new_arch = {**arch, "hidden": [len(i) for i in keep_idx]}
    small = build(new_arch).to(layers[0].weight.device)
    new_layers = _linears(small)
    with torch.no_grad():
        prev = None
        for i, (old, new) in enumerate(zip(layers, new_layers)):
            w = old.weight.detach()
            if prev is not None:
                w = w[:, prev]
            if i < len(keep_idx):
                w, b = w[keep_idx[i]], old.bias.detach()[keep_idx[i]]
                prev = keep_idx[i]
            else:
                b = old.bias.detach()
            new.weight.copy_(w)
            new.bias.copy_(b)
    return small, new_arch


def _weight_sparsity(model: nn.Module) -> float:
    ws = [m.weight for m in _linears(model)]
    total = sum(w.numel() for w in ws)
    return 1.0 - sum(int(torch.count_nonzero(w)) for w in ws) / total


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    base_cfg = dict(batch_size=p["batch_size"], lr=p["lr"], optimizer="adam",
                    target_val_accuracy=p["target_val_accuracy"])
    if p["method"] == "dense":
        arch = ctx.arch("mlp", hidden=p["hidden"])
        model = build(arch).to(ctx.device)
        _, values = standard_run(ctx, model, TrainConfig(epochs=ctx.epochs(2, 20, 60), **base_cfg), arch, save=True)
        values.update({"method": "dense", "sparsity": 0.0, "weight_sparsity": _weight_sparsity(model)})
        return values

    dense = ctx.dep("dense").get("result") or {}
    model, arch = ctx.load_model("dense")
    sparsity, method = float(p["sparsity"]), p["method"]
    ft = int(p["finetune_epochs"]) or ctx.pick(1, 6, 20)
    cfg = TrainConfig(epochs=ft, **base_cfg)
    masks: dict[nn.Linear, torch.Tensor] = {}
    if method == "magnitude":
        masks = global_magnitude_masks(model, sparsity)
        apply_masks(masks)
        cfg.after_step = lambda step: apply_masks(masks)
    elif method == "structured":
        model, arch = structured_prune(model, sparsity, arch)
    elif method == "gradual":
        # Zhu & Gupta 2017: s_t = s_f * (1 - (1 - t/T)^3), masks recomputed every few steps and
        # reaching the final sparsity at 3/4 of fine-tuning, so the last quarter recovers
        steps = ft * -(-len(ctx.data().y_train) // p["batch_size"])
        ramp = max(1, int(0.75 * steps))
        every = max(1, ramp // 20)
        state = {"masks": global_magnitude_masks(model, 0.0)}

        def after_step(step: int) -> None:
            if step <= ramp and (step % every == 0 or step == ramp):
                s = sparsity * (1 - (1 - step / ramp) ** 3)
                state["masks"] = global_magnitude_masks(model, s)
            apply_masks(state["masks"])
        cfg.after_step = after_step
    else:
        raise ValueError(method)
    events = ctx.events
    events.log(f"{method} pruning to {sparsity:.0%}, then {ft} fine-tuning epoch(s)")
    pre_acc = None
    if method != "gradual":
        from ..harness.measure import evaluate
        t = ctx.tensors()
        pre_acc, _ = evaluate(model, t["x_val"], t["y_val"])
    _, values = train_phase(ctx, model, cfg)
    if method == "gradual":
        masks = global_magnitude_masks(model, sparsity)
        apply_masks(masks)
    values.update(inference_phase(ctx, model))
    values.update(static_measures(ctx, model, sparse_size=method != "structured"))
    values.update({
        "method": method, "sparsity": sparsity, "weight_sparsity": _weight_sparsity(model),
        "finetune_epochs": ft, "val_accuracy_before_finetune": pre_acc,
        "params_removed_fraction": 1 - values["params_nonzero"] / dense["params_nonzero"]
        if dense.get("params_nonzero") else None,
        "compression_ratio": dense["model_size_bytes"] / values["model_size_bytes"]
        if dense.get("model_size_bytes") else None,
        "speedup_b1": dense["latency_b1_ms"] / values["latency_b1_ms"] if dense.get("latency_b1_ms") else None,
        "accuracy_drop": dense["test_accuracy"] - values["test_accuracy"]
        if dense.get("test_accuracy") is not None else None,
    })
    if method == "structured":
        values["hidden_after"] = arch["hidden"]
        ctx.save_model(model, arch)
    return values
