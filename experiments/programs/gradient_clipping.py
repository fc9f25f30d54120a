"""gradient_clipping: plain SGD at a high learning rate, with or without global-norm clipping."""

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
    max_norm = p.get("max_norm")
    cfg = TrainConfig(epochs=ctx.epochs(2, 15, 50), batch_size=p["batch_size"], lr=p["lr"],
                      optimizer="sgd", clip_norm=max_norm, track_grad_norm=True,
                      target_val_accuracy=p["target_val_accuracy"])
    _, values = standard_run(ctx, model, cfg)
    values.update({"max_norm": max_norm, "lr": p["lr"]})
    return values
