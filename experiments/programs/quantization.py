"""quantization: train FP32 (baseline variants), or convert the baseline's checkpoint."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import inference_phase, standard_run, static_measures
from ..harness.train import TrainConfig


def _arch(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    if p["model"] == "mlp":
        return ctx.arch("mlp", hidden=p["hidden"])
    return ctx.arch("transformer", patch=2, dim=p["dim"], depth=p["depth"], heads=4, mlp_ratio=2)


def convert(model: nn.Module, precision: str) -> nn.Module:
    """Post-training conversion of a trained FP32 model."""
    model.eval()
    if precision == "int8":
        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao, not yet removed
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            from torch.ao.quantization import quantize_dynamic
            return quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    if precision == "fp16":
        return model.half()
    if precision == "bf16":
        return model.to(torch.bfloat16)
    raise ValueError(precision)


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    if p["precision"] == "fp32":
        arch = _arch(ctx)
        model = build(arch).to(ctx.device)
        cfg = TrainConfig(epochs=ctx.epochs(2, 15 if p["model"] == "mlp" else 12, 60),
                          batch_size=p["batch_size"], lr=p["lr"], optimizer="adam",
                          target_val_accuracy=p["target_val_accuracy"])
        _, values = standard_run(ctx, model, cfg, arch, save=True)
        values.update({"precision": "fp32", "compression_ratio": 1.0, "accuracy_drop": 0.0})
        return values
    base_name = f"fp32-{p['model']}"
    base = ctx.dep(base_name).get("result") or {}
    model, _ = ctx.load_model(base_name)
    reference, _ = ctx.load_model(base_name)  # the FP32 model, timed beside its conversion
    if p["precision"] == "int8" and ctx.device.type != "cpu":
        model, reference = model.cpu(), reference.cpu()  # dynamic quantized kernels are CPU kernels
        ctx.device = torch.device("cpu")
    fp32_measures = static_measures(ctx, model)
    model = convert(model, p["precision"])
    values = inference_phase(ctx, model, reference=reference.eval(), reference_name=base_name)
    measured = static_measures(ctx, model)
    # packed INT8 weights are not nn.Parameters and the FLOP counter skips quantized kernels:
    # parameter counts and FLOPs are those of the network being run, taken before conversion
    values.update({k: fp32_measures[k] for k in ("params_total", "params_trainable", "params_nonzero")})
    values["flops_per_forward"] = fp32_measures["flops_per_forward"]
    values["model_size_bytes"] = measured["model_size_bytes"]
    values["precision"] = p["precision"]
    base_size = base.get("model_size_bytes") or fp32_measures["model_size_bytes"]
    values["compression_ratio"] = base_size / values["model_size_bytes"]
    # a conversion trains nothing: its budget and divergence are those of the FP32 model it converts
    values["budget_steps"] = base.get("budget_steps")
    values["diverged"] = bool(base.get("diverged", False))
    values["baseline_test_accuracy"] = base.get("test_accuracy")
    values["accuracy_drop"] = (base["test_accuracy"] - values["test_accuracy"]
                               if base.get("test_accuracy") is not None else None)
    return values
