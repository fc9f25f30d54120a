"""micro_architecture: train one design; an efficient design is timed beside its control (the
parameter-matched model of its family, loaded from the control's run) in the same process."""

from __future__ import annotations

from typing import Any

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import inference_phase, static_measures, train_phase
from ..harness.train import TrainConfig

#: each design's control of the same family (absent: a reference point)
CONTROL = {"dwsep": "cnn-matched", "linear_attention": "transformer", "shared_layers": "transformer"}


def _arch(ctx: RunContext, design: str) -> dict[str, Any]:
    p = ctx.params
    if design == "baseline":
        return ctx.arch("cnn", channels=p["baseline_channels"])
    if design == "cnn_matched":
        return ctx.arch("cnn", channels=p["matched_channels"])
    if design == "dwsep":
        return ctx.arch("dwsep_cnn", channels=p["dwsep_channels"])
    attn = {"patch": p["attn_patch"], "dim": p["attn_dim"], "depth": p["attn_depth"], "heads": 4, "mlp_ratio": 4}
    if design == "transformer":
        return ctx.arch("transformer", **attn)
    if design == "linear_attention":
        return ctx.arch("transformer", **attn, attention="linear")
    if design == "shared_layers":
        return ctx.arch("transformer", **attn, shared=True)
    raise ValueError(design)


def _config(ctx: RunContext, design: str) -> TrainConfig:
    p = ctx.params
    common = dict(batch_size=p["batch_size"], optimizer="adam", target_val_accuracy=p["target_val_accuracy"])
    if design in ("transformer", "linear_attention", "shared_layers"):
        epochs = int(p["transformer_epochs"]) or ctx.pick(3, 15, 50)
        return TrainConfig(epochs=epochs, lr=p["transformer_lr"], warmup_steps=20, schedule="cosine", **common)
    return TrainConfig(epochs=ctx.epochs(2, 12, 40), lr=p["lr"], **common)


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    design = p["design"]
    arch = _arch(ctx, design)
    model = build(arch).to(ctx.device)
    _, values = train_phase(ctx, model, _config(ctx, design))
    control_name = CONTROL.get(design)
    control = None
    if control_name is not None and control_name in ctx.deps:
        control, _ = ctx.load_model(control_name)
    if control is not None:
        values.update(inference_phase(ctx, model, reference=control, reference_name=control_name))
    else:
        values.update(inference_phase(ctx, model))
    values.update(static_measures(ctx, model))
    ctx.save_model(model, arch)
    values.update({"design": design, "arch": arch})
    if control is None:
        return values
    base = ctx.dep(control_name).get("result") or {}
    acc0 = base.get("test_accuracy")
    values["relative_accuracy_loss"] = (acc0 - values["test_accuracy"]) / acc0 if acc0 else None
    values["params_ratio_vs_control"] = (values["params_total"] / base["params_total"]
                                         if base.get("params_total") else None)
    values["meets_target"] = bool(values.get("speedup") is not None
                                  and values["relative_accuracy_loss"] is not None
                                  and values["speedup"] >= p["speedup_target"]
                                  and values["relative_accuracy_loss"] < p["max_accuracy_loss"])
    return values
