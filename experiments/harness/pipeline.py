"""The standard run: train with energy and memory tracking, then measure inference; and the
learning-rate sweep that selects a configuration on validation data."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import INFERENCE_BATCH
from .context import INFERENCE_WORKLOAD_SAMPLES, PROFILE_INFERENCE_WINDOW_S, PROFILE_LATENCY, RunContext
from .grids import DEFAULT_EXTENSIONS, search
from .measure import (
    PeakMemory,
    activation_bytes,
    evaluate,
    flops_per_forward,
    interleaved_latency_ms,
    model_dtype,
    param_counts,
    serialized_size,
    step_peak_bytes,
    sustained_inference,
)
from .models import Arch, build
from .runtime import seed_all
from .train import TrainConfig, TrainResult, train, warm_up


def train_phase(ctx: RunContext, model: nn.Module, cfg: TrainConfig, measure_activations: bool = True,
                energy_phase: str = "train", accumulate: bool = False) -> tuple[TrainResult, ResultValues]:
    """Train inside the ``energy_phase`` energy phase (added to it with ``accumulate``); returns the
    result and its keys (incl. memory)."""
    t = ctx.tensors()
    peak = PeakMemory(ctx.device)
    values: ResultValues = {}
    warm_up()
    if measure_activations:
        n = min(cfg.batch_size, len(t["y_train"]))
        xb, yb = t["x_train"][:n], t["y_train"][:n]
        values["activation_mem_bytes"] = activation_bytes(model, xb, yb, precision=cfg.precision)
        values["step_peak_mem_bytes"] = step_peak_bytes(model, xb, yb, precision=cfg.precision)
    peak.reset()
    with ctx.energy.phase(energy_phase, accumulate=accumulate):
        res = train(model, (t["x_train"], t["y_train"], t["x_val"], t["y_val"]), cfg, ctx.events, ctx.seed)
    values["peak_mem_bytes"] = peak.read()
    values.update(res.values(cfg.target_val_accuracy))
    values["batch_size"] = cfg.batch_size
    return res, values


def _batch(x: torch.Tensor, size: int) -> torch.Tensor:
    return x[:size] if len(x) >= size else x.repeat((size + len(x) - 1) // len(x), 1, 1, 1)[:size]


def inference_phase(ctx: RunContext, model: nn.Module, phase: str = "inference",
                    reference: nn.Module | None = None, reference_name: str | None = None) -> ResultValues:
    """Test accuracy/loss, latency at batch 1 and at the speedup batch (INFERENCE_BATCH), and the
    energy of inference at that same batch.

    ``energy_inference_kwh`` is the energy of a fixed workload (INFERENCE_WORKLOAD_SAMPLES
    samples at the speedup batch, the same for every variant), measured over a sustained window
    and scaled from the samples that window processed. With ``reference`` (the model this one is
    compared with, held in the same process), both are timed interleaved, latency repetition by
    repetition and energy in ABBA windows, and the reference's figures come back as ``ref_*``.
    The headline variant's model is kept for the model zoo here (`RunContext.keep_for_zoo`)."""
    t = ctx.tensors()
    warmup, reps1, reps64 = PROFILE_LATENCY[ctx.profile]
    x = t["x_test"].to(model_dtype(model))
    xb = _batch(x, INFERENCE_BATCH)
    acc, loss = evaluate(model, x, t["y_test"])
    ctx.keep_for_zoo(model)  # the headline variant's model, as its test accuracy was measured
    window = PROFILE_INFERENCE_WINDOW_S[ctx.profile]
    out: ResultValues = {"test_accuracy": acc, "test_loss": loss, "speedup_batch": INFERENCE_BATCH}
    samples: float
    if reference is None:
        lat1 = interleaved_latency_ms([model], [x[:1]], warmup, reps1)[0]
        lat = interleaved_latency_ms([model], [xb], warmup, reps64)[0]
        with ctx.energy.phase(phase):
            samples, seconds = sustained_inference(model, xb, window)
    else:
        rx = t["x_test"].to(model_dtype(reference))
        rxb = _batch(rx, INFERENCE_BATCH)
        lat1, ref_lat1 = interleaved_latency_ms([model, reference], [x[:1], rx[:1]], warmup, reps1)
        lat, ref_lat = interleaved_latency_ms([model, reference], [xb, rxb], warmup, reps64)
        samples = seconds = ref_samples = ref_seconds = 0.0
        for which in ("own", "ref", "ref", "own"):  # ABBA: a drift of the machine hits both alike
            if which == "own":
                with ctx.energy.phase(phase, accumulate=True):
                    n, s = sustained_inference(model, xb, window / 2)
                samples, seconds = samples + n, seconds + s
            else:
                with ctx.energy.phase("ref_inference", accumulate=True):
                    n, s = sustained_inference(reference, rxb, window / 2)
                ref_samples, ref_seconds = ref_samples + n, ref_seconds + s
        ctx.energy.rescale("ref_inference", INFERENCE_WORKLOAD_SAMPLES / ref_samples)
        out.update({"ref_variant": reference_name, "ref_latency_b1_ms": ref_lat1, "ref_latency_ms": ref_lat,
                    "ref_latency_b64_ms": ref_lat, "ref_throughput_samples_per_s": ref_samples / ref_seconds,
                    "speedup": ref_lat / lat if lat > 0 else None,
                    "speedup_b1": ref_lat1 / lat1 if lat1 > 0 else None})
    ctx.energy.rescale(phase, INFERENCE_WORKLOAD_SAMPLES / samples)
    out.update({"latency_b1_ms": lat1, "latency_b64_ms": lat, "latency_ms": lat,
                "throughput_samples_per_s": samples / seconds,
                "inference_samples": INFERENCE_WORKLOAD_SAMPLES, "inference_window_samples": samples,
                "inference_window_s": seconds})
    return out


def static_measures(ctx: RunContext, model: nn.Module, sparse_size: bool = False) -> ResultValues:
    t = ctx.tensors()
    sample = t["x_test"][:1].to(model_dtype(model))
    out: ResultValues = dict(param_counts(model))
    out["model_size_bytes"] = serialized_size(model, sparse=sparse_size)
    if sparse_size:
        out["model_size_dense_bytes"] = serialized_size(model)
    out["flops_per_forward"] = flops_per_forward(model, sample)
    return out


def standard_run(ctx: RunContext, model: nn.Module, cfg: TrainConfig, arch: Arch | None = None,
                 save: bool = False) -> tuple[TrainResult, ResultValues]:
    """Train, measure inference and the model; optionally save the checkpoint for dependents."""
    res, values = train_phase(ctx, model, cfg)
    values.update(inference_phase(ctx, model))
    values.update(static_measures(ctx, model))
    if save and arch is not None:
        ctx.save_model(model, arch)
    return res, values


@dataclass
class SweepPoint:
    lr: float
    result: TrainResult
    values: ResultValues
    model: nn.Module


def lr_sweep(ctx: RunContext, build_model: Callable[[], nn.Module], make_cfg: Callable[[float], TrainConfig],
             grid: list[float], *, extensions: int = DEFAULT_EXTENSIONS, lo: float | None = None,
             hi: float | None = None) -> tuple[SweepPoint, ResultValues]:
    """Train one model per learning rate of ``grid`` (the same initialisation and data order for
    every point: the seed is reset before each), select the point with the best final
    VALIDATION accuracy among those that did not diverge (ties: lower validation loss, then the
    smaller rate), and return it with the sweep's keys. A diverged point is one whose loss blew up
    or whose final validation accuracy is at chance level. While the selected rate is the
    smallest or largest tried, the next log-spaced rate beyond it is tried too (``extensions``
    times at most, within [lo, hi]: harness/grids.py); ``grid_edge`` says when it still is.
    ``divergence_rate`` counts the declared grid only, the same for every arm. The selected
    point's training is recorded as the ``train`` energy phase; ``sweep_*`` keys give the whole
    sweep's cost."""
    points: list[SweepPoint] = []

    def evaluate(lr: float) -> SweepPoint:
        i = len(points)
        seed_all(ctx.seed)
        model = build_model().to(ctx.device)
        cfg = make_cfg(lr)
        cfg.chance_is_divergence = True
        steps = cfg.epochs * -(-len(ctx.data().y_train) // cfg.batch_size)
        cfg.progress_offset, cfg.progress_total = i * steps, (len(grid) + max(0, extensions)) * steps
        cfg.training = i
        res, values = train_phase(ctx, model, cfg, measure_activations=i == 0, energy_phase=f"sweep:{i}")
        ctx.events.log(f"lr {lr:g}: val accuracy {res.val_accuracy:.4f}"
                       + (f", diverged ({res.diverged_reason})" if res.diverged else "")
                       + (" (beyond the declared grid)" if i >= len(grid) else ""))
        points.append(SweepPoint(lr, res, values, model))
        return points[-1]

    def choose(tried: list[SweepPoint]) -> int:
        pool = [p for p in tried if not p.result.diverged] or tried
        best = max(pool, key=lambda p: (p.result.val_accuracy,
                                        -p.result.val_loss if math.isfinite(p.result.val_loss) else -math.inf, -p.lr))
        return tried.index(best)

    found = search("lr", list(grid), evaluate, choose, extensions=extensions, lo=lo, hi=hi)
    best = points[found.chosen]
    stable = [p for p in points if not p.result.diverged]
    declared = points[:len(grid)]
    ctx.energy.promote(f"sweep:{found.chosen}", "train")
    values = dict(best.values)
    for key in ("activation_mem_bytes", "step_peak_mem_bytes"):
        if key in points[0].values:
            values[key] = points[0].values[key]
    values.update({
        "lr_grid": list(grid), "selected_lr": best.lr if stable else None,
        "lr_grid_tried": list(found.tried), "grid_edge": found.edge_note() if stable else None,
        "divergence_rate": sum(p.result.diverged for p in declared) / len(declared),
        "diverged_lrs": [p.lr for p in points if p.result.diverged],
        "val_accuracy_by_lr": [p.result.val_accuracy for p in points],
        "sweep_train_time_s": sum(p.result.train_time_s for p in points),
        "sweep_budget_steps": sum(p.result.optimizer_steps for p in points),
        "diverged": not stable,
    })
    _energy_to_target(ctx, values)
    return best, values


def _energy_to_target(ctx: RunContext, values: ResultValues) -> None:
    """The training energy spent until the target was reached (its share of the training time)."""
    train_s, to_target_s = required_number(values, "train_time_s"), number_at(values, "time_to_target_s")
    if train_s and to_target_s is not None:
        kwh = ctx.energy.kwh("train")
        values["energy_to_target_kwh"] = kwh * to_target_s / train_s if kwh else None


def mlp_sweep(ctx: RunContext, make_cfg: Callable[[float], TrainConfig], *, extensions: int = DEFAULT_EXTENSIONS,
              lo: float | None = None, hi: float | None = None) -> tuple[SweepPoint, ResultValues]:
    """The program of the learning-rate studies: the MLP of the ``hidden`` parameter swept over the
    ``lr_grid`` parameter (``lr_sweep``), then measured at inference and statically at the rate chosen."""
    arch = ctx.arch("mlp", hidden=ctx.integers("hidden"))
    best, values = lr_sweep(ctx, lambda: build(arch), make_cfg, ctx.numbers("lr_grid"),
                            extensions=extensions, lo=lo, hi=hi)
    values.update(inference_phase(ctx, best.model))
    values.update(static_measures(ctx, best.model))
    return best, values
