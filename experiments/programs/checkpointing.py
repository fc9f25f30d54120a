"""checkpointing: a deep residual MLP with or without activation checkpointing every k blocks."""

from __future__ import annotations

from typing import Any

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import standard_run
from ..harness.train import TrainConfig


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    depth, k = int(p["depth"]), int(p["every_k"])
    arch = ctx.arch("deep_mlp", width=p["width"], depth=depth, every_k=k)
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(1, 3, 12), batch_size=p["batch_size"], lr=p["lr"],
                      optimizer="adam", target_val_accuracy=p["target_val_accuracy"])
    _, values = standard_run(ctx, model, cfg)
    steps = values["train_steps"] or 1
    values.update({"depth": depth, "every_k": k, "checkpointed": k > 0,
                   "step_time_ms": 1000.0 * values["train_time_s"] / steps})
    if k == 0:
        values.update({"step_time_overhead": 1.0, "activation_mem_ratio": 1.0, "step_peak_mem_ratio": 1.0,
                       "peak_mem_ratio": 1.0})
        return values
    plain = ctx.dep(f"plain-d{depth}").get("result") or {}
    ratio = lambda key: values[key] / plain[key] if plain.get(key) else None  # noqa: E731
    values["step_time_overhead"] = ratio("step_time_ms")
    values["activation_mem_ratio"] = ratio("activation_mem_bytes")
    values["step_peak_mem_ratio"] = ratio("step_peak_mem_bytes")
    values["peak_mem_ratio"] = ratio("peak_mem_bytes")
    return values
