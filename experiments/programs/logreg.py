"""logreg: one linear layer trained with SGD on digits."""

from __future__ import annotations

from typing import Any

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import standard_run
from ..harness.train import TrainConfig


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    arch = ctx.arch("logreg")
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(3, 20, 60), batch_size=p["batch_size"], lr=p["lr"],
                      optimizer="sgd", target_val_accuracy=p["target_val_accuracy"])
    _, values = standard_run(ctx, model, cfg, arch, save=True)
    return values
