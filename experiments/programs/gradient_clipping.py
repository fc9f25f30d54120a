"""gradient_clipping: plain SGD with or without global-norm clipping, each arm over the same small
learning-rate grid; the arm's configuration is the best stable rate on validation data."""

from __future__ import annotations

from typing import Any

from ..catalog.gradient_clipping import LR_MAX, LR_MIN
from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import inference_phase, lr_sweep, static_measures
from ..harness.train import TrainConfig


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    arch = ctx.arch("mlp", hidden=p["hidden"])
    max_norm = p.get("max_norm")
    epochs = ctx.epochs(8, 6, 20)

    def make_cfg(lr: float) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=p["batch_size"], lr=lr, optimizer="sgd",
                           clip_norm=max_norm, track_grad_norm=True,
                           target_val_accuracy=p["target_val_accuracy"])

    best, values = lr_sweep(ctx, lambda: build(arch), make_cfg, list(p["lr_grid"]),
                            extensions=p["lr_grid_extensions"], lo=LR_MIN, hi=LR_MAX)
    values.update(inference_phase(ctx, best.model))
    values.update(static_measures(ctx, best.model))
    values.update({"max_norm": max_norm, "lr": best.lr})
    return values
