"""optimizers: the same MLP, budget and data order for every optimizer, each over its own small
learning-rate grid; the configuration reported is the best on validation data."""

from __future__ import annotations

from typing import Any

from ..catalog.optimizers import LR_MAX, LR_MIN
from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import inference_phase, lr_sweep, static_measures
from ..harness.train import TrainConfig


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    arch = ctx.arch("mlp", hidden=p["hidden"])
    name = p["optimizer"]
    # adam's decay is coupled (L2 in the gradient), adamw's and lion's decoupled: the same strength
    # for adam and adamw, so their comparison is coupled vs decoupled decay (Loshchilov & Hutter 2019)
    weight_decay = p["weight_decay"] if name in ("adam", "adamw", "lion") else 0.0

    def make_cfg(lr: float) -> TrainConfig:
        return TrainConfig(epochs=ctx.epochs(2, 8, 30), batch_size=p["batch_size"], lr=lr, optimizer=name,
                           weight_decay=weight_decay, target_val_accuracy=p["target_val_accuracy"],
                           evals_per_epoch=4)

    best, values = lr_sweep(ctx, lambda: build(arch), make_cfg, list(p["lr_grid"]),
                            extensions=p["lr_grid_extensions"], lo=LR_MIN, hi=LR_MAX)
    values.update(inference_phase(ctx, best.model))
    values.update(static_measures(ctx, best.model))
    values.update({"optimizer": name, "lr": best.lr, "weight_decay": weight_decay,
                   "weight_decay_form": "coupled" if name == "adam" else "decoupled" if weight_decay else "none",
                   "lr_times_weight_decay": best.lr * weight_decay})
    return values
