"""micro_architecture: train one design; efficient designs compare themselves with the baseline."""

from __future__ import annotations

from typing import Any

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import standard_run
from ..harness.train import TrainConfig


def _arch(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    design = p["design"]
    if design == "baseline":
        return ctx.arch("cnn", channels=p["baseline_channels"])
    if design == "dwsep":
        return ctx.arch("dwsep_cnn", channels=p["dwsep_channels"])
    if design == "linear_attention":
        return ctx.arch("transformer", patch=2, dim=p["attn_dim"], depth=p["attn_depth"], heads=4,
                        mlp_ratio=4, attention="linear")
    if design == "shared_layers":
        return ctx.arch("transformer", patch=2, dim=p["shared_dim"], depth=p["shared_depth"], heads=4,
                        mlp_ratio=4, shared=True)
    raise ValueError(design)


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    arch = _arch(ctx)
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(2, 12, 40), batch_size=p["batch_size"], lr=p["lr"],
                      optimizer="adam", target_val_accuracy=p["target_val_accuracy"])
    _, values = standard_run(ctx, model, cfg)
    values.update({"design": p["design"], "arch": arch})
    if p["design"] == "baseline":
        values.update({"speedup_b1": 1.0, "speedup_b64": 1.0, "relative_accuracy_loss": 0.0,
                       "meets_target": False})
        return values
    base = ctx.dep("baseline").get("result") or {}
    values["speedup_b1"] = base["latency_b1_ms"] / values["latency_b1_ms"] if base.get("latency_b1_ms") else None
    values["speedup_b64"] = base["latency_b64_ms"] / values["latency_b64_ms"] if base.get("latency_b64_ms") else None
    acc0 = base.get("test_accuracy")
    values["relative_accuracy_loss"] = (acc0 - values["test_accuracy"]) / acc0 if acc0 else None
    values["params_ratio_vs_baseline"] = (values["params_total"] / base["params_total"]
                                          if base.get("params_total") else None)
    values["meets_target"] = bool(values["speedup_b1"] is not None
                                  and values["relative_accuracy_loss"] is not None
                                  and values["speedup_b1"] >= p["speedup_target"]
                                  and values["relative_accuracy_loss"] < p["max_accuracy_loss"])
    return values
