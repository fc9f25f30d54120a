"""low_rank: the dense run and the pruned arms are the pruning entry's (the pruned arms at the
parameter count of the factorization they are matched to); a factorization run loads the dense
checkpoint from before fine-tuning, replaces its linear layers by truncated-SVD factors and
fine-tunes them for the same epochs."""

from __future__ import annotations

from typing import Any

from ..harness.context import RunContext
from ..harness.lowrank import factorize_model
from ..harness.measure import evaluate
from ..harness.pipeline import inference_phase, static_measures, train_phase
from ..harness.train import TrainConfig
from . import pruning


def factorize(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    dense = ctx.dep("dense").get("result") or {}
    model, _ = ctx.load_model("dense", pruning.PRETRAINED)
    reference, _ = ctx.load_model("dense")
    # a rank arm's own "rank"; an energy arm has none and reads the entry's kept share "energy"
    rank = int(p["rank"]) if p.get("rank") is not None else None
    energy = None if rank is not None else float(p["energy"])
    layers = factorize_model(model, rank=rank, energy=energy)
    model.to(ctx.device)
    t = ctx.tensors()
    pre_acc, _ = evaluate(model, t["x_val"], t["y_val"])
    pre_epochs, ft = pruning.budget(ctx)
    ctx.events.log("factorized: " + ", ".join(f"{f.name} {f.out_features}x{f.in_features} -> rank {f.rank}"
                                              if f.factorized else f"{f.name} kept dense" for f in layers)
                   + f"; validation accuracy before fine-tuning {pre_acc:.4f}; then {ft} epoch(s)")
    cfg = TrainConfig(epochs=ft, inherited_steps=int(dense.get("pretrain_steps") or 0), **pruning.train_settings(ctx))
    _, values = train_phase(ctx, model, cfg)
    values.update(inference_phase(ctx, model, reference=reference, reference_name="dense"))
    values.update(static_measures(ctx, model))
    dense_params = dense.get("params_total") or sum(q.numel() for q in reference.parameters())
    values.update({
        "method": "lowrank", "rank": rank, "energy": energy, "finetune_epochs": ft, "pretrain_epochs": pre_epochs,
        "ranks": [f.rank for f in layers], "factorized_layers": [f.name for f in layers if f.factorized],
        "kept_energy": [f.kept_energy for f in layers], "relative_error": [f.relative_error for f in layers],
        "val_accuracy_before_finetune": pre_acc,
        "params_removed_fraction": 1 - values["params_nonzero"] / dense_params,
        "sparsity": 1 - values["params_total"] / dense_params,
        "compression_ratio": dense["model_size_bytes"] / values["model_size_bytes"]
        if dense.get("model_size_bytes") else None,
        "accuracy_drop": dense["test_accuracy"] - values["test_accuracy"]
        if dense.get("test_accuracy") is not None else None,
    })
    return values


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    if p["method"] == "lowrank":
        return factorize(ctx)
    if p["method"] in ("magnitude", "structured"):
        # the same parameter count as the factorization this arm is matched to
        target = ctx.dep(p["match"]).get("result") or {}
        ctx.params = {**p, "sparsity": float(target["params_removed_fraction"])}
        values = pruning.run(ctx)
        values.update({"matched_to": p["match"], "matched_params_total": target.get("params_total")})
        return values
    return pruning.run(ctx)
