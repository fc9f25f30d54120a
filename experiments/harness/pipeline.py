"""The standard run: train with energy and memory tracking, then measure inference."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .context import INFERENCE_WORKLOAD_SAMPLES, PROFILE_INFERENCE_WINDOW_S, PROFILE_LATENCY, RunContext
from .measure import (PeakMemory, activation_bytes, evaluate, flops_per_forward, latency_ms,
                      model_dtype, param_counts, serialized_size, sustained_inference)
from .train import TrainConfig, TrainResult, train, warm_up


def train_phase(ctx: RunContext, model: nn.Module, cfg: TrainConfig,
                measure_activations: bool = True) -> tuple[TrainResult, dict[str, Any]]:
    """Train inside the ``train`` energy phase; returns the result and its keys (incl. memory)."""
    t = ctx.tensors()
    peak = PeakMemory(ctx.device)
    values: dict[str, Any] = {}
    warm_up()
    if measure_activations:
        n = min(cfg.batch_size, len(t["y_train"]))
        with torch.autocast(ctx.device.type, dtype=torch.bfloat16 if cfg.precision == "bf16" else torch.float16,
                            enabled=cfg.precision in ("bf16", "fp16")):
            values["activation_mem_bytes"] = activation_bytes(model, t["x_train"][:n], t["y_train"][:n])
    peak.reset()
    with ctx.energy.phase("train"):
        res = train(model, (t["x_train"], t["y_train"], t["x_val"], t["y_val"]), cfg, ctx.events, ctx.seed)
    values["peak_mem_bytes"] = peak.read()
    values.update(res.values(cfg.target_val_accuracy))
    values["batch_size"] = cfg.batch_size
    return res, values


def inference_phase(ctx: RunContext, model: nn.Module, phase: str = "inference") -> dict[str, Any]:
    """Test accuracy/loss, latency at batch 1 and 64, and the energy of inference.

    ``energy_inference_kwh`` is the energy of a fixed workload (INFERENCE_WORKLOAD_SAMPLES
    samples at batch 64, the same for every variant), measured over a sustained window of
    batch-64 passes and scaled from the samples that window processed."""
    t = ctx.tensors()
    warmup, reps1, reps64 = PROFILE_LATENCY[ctx.profile]
    dtype = model_dtype(model)
    x = t["x_test"].to(dtype)
    b64 = x[:64] if len(x) >= 64 else x.repeat((64 + len(x) - 1) // len(x), 1, 1, 1)[:64]
    acc, loss = evaluate(model, x, t["y_test"])
    lat1 = latency_ms(model, x[:1], warmup, reps1)
    lat64 = latency_ms(model, b64, warmup, reps64)
    with ctx.energy.phase(phase):
        samples, seconds = sustained_inference(model, b64, PROFILE_INFERENCE_WINDOW_S[ctx.profile])
    ctx.energy.rescale(phase, INFERENCE_WORKLOAD_SAMPLES / samples)
    return {"test_accuracy": acc, "test_loss": loss, "latency_b1_ms": lat1, "latency_b64_ms": lat64,
            "throughput_samples_per_s": samples / seconds,
            "inference_samples": INFERENCE_WORKLOAD_SAMPLES, "inference_window_samples": samples,
            "inference_window_s": seconds}


def static_measures(ctx: RunContext, model: nn.Module, sparse_size: bool = False) -> dict[str, Any]:
    t = ctx.tensors()
    sample = t["x_test"][:1].to(model_dtype(model))
    out: dict[str, Any] = dict(param_counts(model))
    out["model_size_bytes"] = serialized_size(model, sparse=sparse_size)
    if sparse_size:
        out["model_size_dense_bytes"] = serialized_size(model)
    out["flops_per_forward"] = flops_per_forward(model, sample)
    return out


def standard_run(ctx: RunContext, model: nn.Module, cfg: TrainConfig, arch: dict[str, Any] | None = None,
                 save: bool = False) -> tuple[TrainResult, dict[str, Any]]:
    """Train, measure inference and the model; optionally save the checkpoint for dependents."""
    res, values = train_phase(ctx, model, cfg)
    values.update(inference_phase(ctx, model))
    values.update(static_measures(ctx, model))
    if save and arch is not None:
        ctx.save_model(model, arch)
    return res, values
