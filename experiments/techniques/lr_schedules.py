"""lr_schedules: constant, step decay, cosine, one-cycle and linear warm-up + cosine, each at its own
tuned peak rate, on the same model, optimizer and budget: time and energy to the target accuracy.

The program: the same MLP, optimizer, budget and data order under each learning-rate schedule,
each over the same grid of peak rates; the configuration reported is the best on validation data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.events import ResultValues

from ..declare import Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold, training_batch
from ..paramread import texts
from .optimizers import OPTIMIZERS

if TYPE_CHECKING:
    from ..harness.context import RunContext
    from ..harness.train import TrainConfig


#: the variants: (name, schedule of the training loop, warm-up) in the plan's order; constant is the baseline
SCHEDULES = ("constant", "step", "cosine", "onecycle", "warmup_cosine")
BASELINE = "constant"
ROLES = {
    "constant": "the peak rate throughout: the reference",
    "step": "step decay: the rate x0.1 at 50 % and again at 75 % of the steps (He et al. 2016; Goyal et al. 2017)",
    "cosine": "cosine decay from the peak to 0 over the budget, no warm-up (Loshchilov & Hutter 2017)",
    "onecycle": "one cycle: cosine up from peak/25 to the peak over 30 % of the steps, then down to peak/25/1e4 "
                "(Smith & Topin 2019; torch's OneCycleLR defaults, learning rate only, momentum not cycled)",
    "warmup_cosine": "linear warm-up over warmup_fraction of the steps, then cosine decay to 0 (Goyal et al. 2017; "
                     "Loshchilov & Hutter 2017)",
}


def plan(values: ParamValues) -> list[Variant]:
    names = list(dict.fromkeys(texts(values, "schedules")))
    base = BASELINE if BASELINE in names else names[0]
    out = []
    for n in names:
        params: ParamValues = {"schedule": n}
        if n == base:
            out.append(Variant(n, params, baseline=True, role=ROLES[n]))
        else:
            # a decaying schedule is meant to reach the target sooner (or at least as soon) and end
            # better: the energy to the target at kept final quality
            out.append(Variant(n, params, references=(base,), objective="energy", role=ROLES[n]))
    return out


def headline(values: ParamValues) -> str | None:
    names = list(dict.fromkeys(texts(values, "schedules")))
    base = BASELINE if BASELINE in names else names[0]
    others = [n for n in names if n != base]
    for n in ("onecycle", "warmup_cosine", "cosine"):
        if n in others:
            return n
    return others[0] if others else None


EXPERIMENT = Experiment(
    name="lr_schedules",
    title="Learning-rate schedules: constant, step, cosine, one-cycle, warm-up + cosine",
    area="training",
    gain_phase="training",
    summary="Train the same MLP with the same optimizer and budget under each learning-rate schedule, each "
            "over the same grid of peak rates (each schedule's rate chosen on validation accuracy), and "
            "compare the time and energy to a target validation accuracy and the final test accuracy.",
    literature="Decaying the learning rate late in training improves the final loss over a constant rate: step "
               "decay by 10x at fixed epochs was the standard for ResNets (He et al. 2016), cosine annealing "
               "reaches the same or better accuracy without choosing milestones (Loshchilov & Hutter 2017), and "
               "a linear warm-up makes large peak rates stable (Goyal et al. 2017). One-cycle training, a rise "
               "to a large peak and a long decay, was reported to reach the target accuracy in several times "
               "fewer iterations ('super-convergence', Smith & Topin 2019), on some architectures and data. "
               "Because a decaying rate spends its late steps at small rates, its time to an intermediate "
               "target need not be shorter than a constant rate's; the gain is in the final quality at a "
               "fixed budget, and in the budget needed for a given quality.",
    references=(
        "Loshchilov & Hutter 2017, SGDR: Stochastic Gradient Descent with Warm Restarts (ICLR)",
        "Smith & Topin 2019, Super-Convergence: Very Fast Training of Neural Networks Using Large Learning "
        "Rates (SPIE 11006)",
        "Goyal et al. 2017, Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour (arXiv:1706.02677)",
        "He et al. 2016, Deep Residual Learning for Image Recognition (CVPR)",
        "Smith 2017, Cyclical Learning Rates for Training Neural Networks (WACV)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_to_target_kwh", "time": "time_to_target_s",
             "memory": "peak_mem_bytes", "stability": "divergence_rate"},
    params=(*common_params(0.95),
        Param("schedules", "str_list", list(SCHEDULES), "learning-rate schedules to compare", choices=SCHEDULES),
        Param("lr_grid", "float_list", [0.01, 0.03, 0.1, 0.3], "peak learning rates tried for every schedule "
              "(each schedule's chosen on validation accuracy)", min=1e-7, max=10.0),
        Param("optimizer", "choice", "momentum", "the optimizer every schedule drives (momentum: SGD with "
              "momentum 0.9)", choices=OPTIMIZERS),
        Param("warmup_fraction", "float", 0.1, "share of the steps of warmup_cosine's linear warm-up",
              min=0.0, max=0.9),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("batch_size", "int", 32, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "train_time_s", "time_to_target_s", "steps_to_target",
                                   "energy_train_kwh", "energy_to_target_kwh", "selected_lr", "lr_grid",
                                   "divergence_rate", "schedule", "budget_steps", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.85, BASELINE)),
    plan_fn=plan,
    table_keys=("selected_lr", "steps_to_target", "val_accuracy", "divergence_rate"),
    headline=headline,
    speedup_batch=training_batch,
)


def loop_schedule(name: str, total_steps: int, warmup_fraction: float) -> tuple[str, int]:
    """(the training loop's schedule, its warm-up steps) of a variant: warmup_cosine is the loop's
    cosine after a linear warm-up; the others have none (one-cycle carries its own rise)."""
    if name == "warmup_cosine":
        return "cosine", max(1, int(warmup_fraction * total_steps))
    return name, 0


def run(ctx: RunContext) -> ResultValues:
    from ..harness.pipeline import mlp_sweep
    from ..harness.train import TrainConfig

    epochs = ctx.epochs(2, 10, 30)
    batch_size, optimizer, name = ctx.integer("batch_size"), ctx.text("optimizer"), ctx.text("schedule")
    steps = epochs * -(-len(ctx.data().y_train) // batch_size)
    schedule, warmup = loop_schedule(name, steps, ctx.number("warmup_fraction"))

    def make_cfg(lr: float) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                           schedule=schedule, warmup_steps=warmup,
                           target_val_accuracy=ctx.number("target_val_accuracy"),
                           evals_per_epoch=4)

    best, values = mlp_sweep(ctx, make_cfg)
    values.setdefault("energy_to_target_kwh", None)  # the target not reached: no energy to it
    values.update({"schedule": name, "loop_schedule": schedule, "warmup_steps": warmup,
                   "optimizer": optimizer, "lr": best.lr, "peak_lr": best.lr, "schedule_steps": steps})
    return values
