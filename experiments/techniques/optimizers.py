"""optimizers: SGD, SGD with momentum, Adam, AdamW and Lion on the same model and budget.

The program: the same MLP, budget and data order for every optimizer, each over its own small
learning-rate grid; the configuration reported is the best on validation data.
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
from ..paramread import number, numbers, texts

if TYPE_CHECKING:
    from ..harness.context import RunContext
    from ..harness.train import TrainConfig


OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "lion")
#: each optimizer's learning-rate grid around its usual rate; Lion's is 3-10x below AdamW's and
#: its weight decay 10x above, so lr x wd matches (Chen et al. 2023). Lion and SGD chose the top
#: of their 3-point grids on most seeds (issue 22), so both reach one step higher; a choice still
#: on an edge is extended by the run (``lr_grid_extensions``, harness/grids.py)
DEFAULT_GRIDS = {"sgd": [0.03, 0.1, 0.3, 1.0], "momentum": [0.01, 0.03, 0.1], "adam": [3e-4, 1e-3, 3e-3],
                 "adamw": [3e-4, 1e-3, 3e-3], "lion": [3e-5, 1e-4, 3e-4, 1e-3]}
#: the learning rates a grid (and its extensions) may hold
LR_MIN, LR_MAX = 1e-7, 10.0
#: (references, objective, role) of each optimizer against the others
CLAIMS = {
    "sgd": (("adam",), "quality", "well-tuned SGD generalises as well as Adam (Wilson et al. 2017)"),
    "momentum": (("adam",), "quality", "well-tuned SGD with momentum generalises as well as Adam (Wilson et al. 2017)"),
    "adamw": (("adam",), "quality", "decoupled weight decay generalises better than the same decay coupled into "
                                    "Adam's gradient as L2 (Loshchilov & Hutter 2019)"),
    "lion": (("adamw", "adam"), "memory", "half of AdamW's optimizer state at matched quality (Chen et al. 2023)"),
}


#: the reference every optimizer is compared with; always run, so narrowing ``optimizers`` to one
#: (``-p optimizers=lion``, a follow-up focused on one variant) keeps a comparison
BASELINE = "adam"


def _names(values: ParamValues) -> list[str]:
    """The plan's optimizers: the baseline first, then those asked for (each once)."""
    return list(dict.fromkeys([BASELINE, *texts(values, "optimizers")]))


def plan(values: ParamValues) -> list[Variant]:
    names = _names(values)
    base = BASELINE
    out = []
    for n in names:
        params: ParamValues = {
            "optimizer": n, "lr_grid": numbers(values, f"lr_grid_{n}"),
            "weight_decay": number(values, "weight_decay_lion" if n == "lion" else "weight_decay")}
        if n == base:
            out.append(Variant(n, params, baseline=True))
            continue
        refs, objective, role = CLAIMS.get(n, ((base,), "quality", None))
        refs = tuple(r for r in refs if r in names and r != n) or (base,)
        out.append(Variant(n, params, references=refs, objective=objective, role=role))
    return out


def headline(values: ParamValues) -> str | None:
    others = [n for n in _names(values) if n != BASELINE]
    if not others:  # adam alone: a baseline measurement, nothing compared
        return None
    return "lion" if "lion" in others else others[0]


EXPERIMENT = Experiment(
    name="optimizers",
    title="Optimizers: SGD, momentum, Adam, AdamW, Lion",
    area="training",
    gain_phase="training",
    summary="Train the same MLP with each optimizer over its own small learning-rate grid, select "
            "each optimizer's rate on validation data, and compare the test accuracy, the steps and "
            "time to a target validation accuracy, and the bytes of optimizer state.",
    literature="Adaptive methods (Adam, Kingma & Ba 2015) reach a given loss in fewer steps with "
               "little tuning, while well-tuned SGD with momentum often generalises as well or better "
               "(Wilson et al. 2017). Decoupling weight decay from the adaptive update (AdamW) "
               "improves regularisation (Loshchilov & Hutter 2019). Lion, found by program search, "
               "updates with the sign of an interpolated momentum, keeps one state tensor instead of "
               "Adam's two (half the optimizer memory) and matches AdamW when run with a 3-10x "
               "smaller learning rate (Chen et al. 2023). A large benchmark found no optimizer "
               "dominating across tasks once tuned (Schmidt et al. 2021).",
    references=(
        "Kingma & Ba 2015, Adam: A Method for Stochastic Optimization (ICLR)",
        "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (ICLR)",
        "Chen et al. 2023, Symbolic Discovery of Optimization Algorithms (NeurIPS)",
        "Wilson et al. 2017, The Marginal Value of Adaptive Gradient Methods in Machine Learning (NeurIPS)",
        "Schmidt et al. 2021, Descending through a Crowded Valley: Benchmarking Deep Learning Optimizers (ICML)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_train_kwh",
             "time": "time_to_target_s", "size": "optimizer_state_bytes", "memory": "optimizer_state_bytes",
             "stability": "divergence_rate"},
    params=(*common_params(0.95),
        Param("optimizers", "str_list", list(OPTIMIZERS), "optimizers to compare (adam, the baseline, always "
              "runs: optimizers=lion compares lion with adam)", choices=OPTIMIZERS),
        *(Param(f"lr_grid_{n}", "float_list", grid, f"learning rates tried for {n} (chosen on validation)",
                min=LR_MIN, max=LR_MAX) for n, grid in DEFAULT_GRIDS.items()),
        grid_extensions_param(),
        Param("weight_decay", "float", 0.01, "weight decay of adam (coupled: L2 added to the gradient) and adamw "
              "(decoupled) alike, so AdamW vs Adam compares the two forms at the same strength", min=0.0, max=10.0),
        Param("weight_decay_lion", "float", 0.1, "decoupled weight decay of lion (10x adamw's, as its "
              "rates are 10x smaller: lr x wd matches)", min=0.0, max=10.0),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("batch_size", "int", 32, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "train_time_s", "time_to_target_s",
                                   "steps_to_target", "optimizer_state_bytes", "energy_train_kwh",
                                   "selected_lr", "lr_grid", "lr_grid_tried", "grid_edge", "divergence_rate", "budget_steps",
                                   "energy_mode"),
                  threshold("test_accuracy", ">=", 0.85, "adam")),
    plan_fn=plan,
    table_keys=("selected_lr", "steps_to_target", "val_accuracy", "divergence_rate"),
    headline=headline,
    speedup_batch=training_batch,
)


def run(ctx: RunContext) -> ResultValues:
    from ..harness.pipeline import mlp_sweep
    from ..harness.train import TrainConfig

    name = ctx.text("optimizer")
    # adam's decay is coupled (L2 in the gradient), adamw's and lion's decoupled: the same strength
    # for adam and adamw, so their comparison is coupled vs decoupled decay (Loshchilov & Hutter 2019)
    weight_decay = ctx.number("weight_decay") if name in ("adam", "adamw", "lion") else 0.0

    def make_cfg(lr: float) -> TrainConfig:
        return TrainConfig(epochs=ctx.epochs(2, 8, 30), batch_size=ctx.integer("batch_size"), lr=lr, optimizer=name,
                           weight_decay=weight_decay, target_val_accuracy=ctx.number("target_val_accuracy"),
                           evals_per_epoch=4)

    best, values = mlp_sweep(ctx, make_cfg, extensions=ctx.integer("lr_grid_extensions"), lo=LR_MIN, hi=LR_MAX)
    values.update({"optimizer": name, "lr": best.lr, "weight_decay": weight_decay,
                   "weight_decay_form": "coupled" if name == "adam" else "decoupled" if weight_decay else "none",
                   "lr_times_weight_decay": best.lr * weight_decay})
    return values
