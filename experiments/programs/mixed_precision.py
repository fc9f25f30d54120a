"""mixed_precision: one model trained in FP32, BF16 autocast or FP16 autocast + GradScaler.
(FP16 on a CPU never gets here: the catalog's skip check records it as skipped.)"""

from __future__ import annotations

from typing import Any

import torch

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import standard_run
from ..harness.train import TrainConfig


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    precision = p["precision"]
    if precision == "bf16" and ctx.device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return {"skipped": True, "skip_reason": "this GPU does not support BF16"}
    if p["model"] == "mlp":
        arch = ctx.arch("mlp", hidden=p["hidden"])
    elif p["model"] == "cnn":
        arch = ctx.arch("cnn", channels=[32, 64, 128])
    else:
        arch = ctx.arch("transformer", patch=2, dim=64, depth=2, heads=4, mlp_ratio=4)
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(2, 12, 40), batch_size=p["batch_size"], lr=p["lr"],
                      optimizer="adam", precision=precision, target_val_accuracy=p["target_val_accuracy"])
    _, values = standard_run(ctx, model, cfg)
    values.update({"precision": precision, "throughput_kind": "inference",
                   "autocast_dtype": {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}[precision]})
    return values
