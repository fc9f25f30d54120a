"""batch_size: SGD with momentum for a fixed number of epochs at one batch size, with the base
learning rate or a linearly scaled one plus warm-up (Goyal et al. 2017)."""

from __future__ import annotations

import math
from typing import Any

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import standard_run
from ..harness.train import TrainConfig


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    b, base = int(p["batch_size"]), int(p["base_batch_size"])
    scaled = p["scaling"] == "linear"
    lr = p["lr"] * b / base if scaled else p["lr"]
    steps_per_epoch = math.ceil(len(ctx.data().y_train) / b)
    warmup = int(round(p["warmup_epochs"] * steps_per_epoch)) if scaled else 0
    arch = ctx.arch("mlp", hidden=p["hidden"])
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(2, 12, 40), batch_size=b, lr=lr, optimizer="momentum",
                      warmup_steps=warmup, target_val_accuracy=p["target_val_accuracy"], evals_per_epoch=8)
    _, values = standard_run(ctx, model, cfg)
    values.update({"scaling": p["scaling"], "lr_used": lr, "warmup_steps": warmup,
                   "throughput_kind": "inference"})
    return values
