"""lr_schedules: the same MLP, optimizer, budget and data order under each learning-rate schedule,
each over the same grid of peak rates; the configuration reported is the best on validation data."""

from __future__ import annotations

from typing import Any

from ..harness.context import RunContext
from ..harness.models import build
from ..harness.pipeline import inference_phase, lr_sweep, static_measures
from ..harness.train import TrainConfig


def loop_schedule(name: str, total_steps: int, warmup_fraction: float) -> tuple[str, int]:
    """(the training loop's schedule, its warm-up steps) of a variant: warmup_cosine is the loop's
    cosine after a linear warm-up; the others have none (one-cycle carries its own rise)."""
    if name == "warmup_cosine":
        return "cosine", max(1, int(warmup_fraction * total_steps))
    return name, 0


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    arch = ctx.arch("mlp", hidden=p["hidden"])
    epochs = ctx.epochs(2, 10, 30)
    steps = epochs * -(-len(ctx.data().y_train) // p["batch_size"])
    schedule, warmup = loop_schedule(p["schedule"], steps, float(p["warmup_fraction"]))

    def make_cfg(lr: float) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=p["batch_size"], lr=lr, optimizer=p["optimizer"],
                           schedule=schedule, warmup_steps=warmup, target_val_accuracy=p["target_val_accuracy"],
                           evals_per_epoch=4)

    best, values = lr_sweep(ctx, lambda: build(arch), make_cfg, list(p["lr_grid"]))
    values.setdefault("energy_to_target_kwh", None)  # the target not reached: no energy to it
    values.update(inference_phase(ctx, best.model))
    values.update(static_measures(ctx, best.model))
    values.update({"schedule": p["schedule"], "loop_schedule": schedule, "warmup_steps": warmup,
                   "optimizer": p["optimizer"], "lr": best.lr, "peak_lr": best.lr, "schedule_steps": steps})
    return values
