"""gradient_clipping: no clipping against max-norm clipping at a learning rate where it matters.

The program: plain SGD with or without global-norm clipping, each arm over the same small
learning-rate grid; the arm's configuration is the best stable rate on validation data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.events import ResultValues

from ..declare import (
    Experiment,
    Param,
    ParamValues,
    Variant,
    common_params,
    grid_extensions_param,
    keys_deliverable,
    threshold,
    training_batch,
)
from ..paramread import maybe_number, numbers

if TYPE_CHECKING:
    from ..harness.context import RunContext
    from ..harness.train import TrainConfig


#: the learning rates the grid (and its extensions) may hold
LR_MIN, LR_MAX = 1e-6, 100.0


def plan(values: ParamValues) -> list[Variant]:
    out = [Variant("none", {"max_norm": None}, baseline=True)]
    for m in dict.fromkeys(numbers(values, "max_norms")):
        out.append(Variant(f"clip-{m:g}", {"max_norm": m}, references=("none",), objective="stability",
                           role="fewer divergences across the learning-rate grid than no clipping, each arm "
                                "at its own best stable rate"))
    return out


def headline(values: ParamValues) -> str:
    norms = list(dict.fromkeys(numbers(values, "max_norms")))
    return f"clip-{(1.0 if 1.0 in norms else norms[0]):g}"


EXPERIMENT = Experiment(
    name="gradient_clipping",
    title="Gradient clipping by global norm",
    area="stability",
    gain_phase="training",
    summary="Train a deep MLP with plain SGD over a small learning-rate grid that reaches rates where "
            "training diverges, without clipping and with the global gradient norm clipped to each "
            "max-norm; each arm is reported at its best stable rate chosen on validation data, and "
            "compared on its divergence rate across the grid and its time to the target.",
    literature="Rescaling the gradient when its norm exceeds a threshold prevents exploding gradients "
               "and the loss spikes they cause, first shown for recurrent networks (Pascanu et al. "
               "2013). Clipped gradient descent can converge faster than fixed-step descent under a "
               "relaxed smoothness condition, which explains why clipping allows larger learning "
               "rates (Zhang et al. 2020); adaptive clipping made normaliser-free ResNets trainable at "
               "large batch sizes (Brock et al. 2021). A threshold far below the typical gradient norm "
               "acts as a smaller learning rate and slows training; one far above it never triggers.",
    references=(
        "Pascanu et al. 2013, On the difficulty of training recurrent neural networks (ICML)",
        "Zhang et al. 2020, Why Gradient Clipping Accelerates Training: A Theoretical Justification for Adaptivity (ICLR)",
        "Brock et al. 2021, High-Performance Large-Scale Image Recognition Without Normalization (ICML)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_train_kwh",
             "time": "time_to_target_s", "size": "model_size_bytes", "stability": "divergence_rate"},
    params=(*common_params(0.9),
        Param("max_norms", "float_list", [0.5, 1.0, 5.0], "global gradient-norm thresholds",
              min=1e-4, max=1e6),
        Param("lr_grid", "float_list", [0.1, 0.3, 1.0, 3.0], "SGD learning rates every arm is trained with "
              "(its best stable one on validation data is reported); reaching up to rates where unclipped "
              "training diverges is the point (every arm chose 1.0, then the top, on 5 of 5 seeds)",
              min=LR_MIN, max=LR_MAX),
        grid_extensions_param(),
        Param("hidden", "int_list", [256, 256, 256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("batch_size", "int", 32, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "diverged", "divergence_rate", "selected_lr", "lr_grid",
                                   "lr_grid_tried", "grid_edge",
                                   "budget_steps", "loss_spikes", "grad_norm_max", "clipped_fraction",
                                   "train_time_s", "time_to_target_s", "sweep_train_time_s",
                                   "energy_train_kwh", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.85, "none")),
    plan_fn=plan,
    table_keys=("divergence_rate", "selected_lr", "diverged", "clipped_fraction"),
    headline=headline,
    speedup_batch=training_batch,
)


def run(ctx: RunContext) -> ResultValues:
    from ..harness.pipeline import mlp_sweep
    from ..harness.train import TrainConfig

    max_norm = maybe_number(ctx.params, "max_norm")
    epochs = ctx.epochs(8, 6, 20)

    def make_cfg(lr: float) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=ctx.integer("batch_size"), lr=lr, optimizer="sgd",
                           clip_norm=max_norm, track_grad_norm=True,
                           target_val_accuracy=ctx.number("target_val_accuracy"))

    best, values = mlp_sweep(ctx, make_cfg, extensions=ctx.integer("lr_grid_extensions"), lo=LR_MIN, hi=LR_MAX)
    values.update({"max_norm": max_norm, "lr": best.lr})
    return values
