"""optimizers: the same MLP, budget and data order for every optimizer."""

from __future__ import annotations

from typing import Any

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import standard_run
from ..harness.train import TrainConfig


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    arch = ctx.arch("mlp", hidden=p["hidden"])
    model = build(arch).to(ctx.device)
    name = p["optimizer"]
    cfg = TrainConfig(epochs=ctx.epochs(2, 15, 50), batch_size=p["batch_size"], lr=p["lr"], optimizer=name,
                      weight_decay=p["weight_decay"] if name in ("adamw", "lion") else 0.0,
                      target_val_accuracy=p["target_val_accuracy"], evals_per_epoch=8)
    _, values = standard_run(ctx, model, cfg)
    values.update({"optimizer": name, "lr": p["lr"]})
    return values
