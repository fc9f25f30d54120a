"""logreg: the smallest real run (seconds even at `default`); the engine's tests use it.

The program: one linear layer trained with SGD on digits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.events import ResultValues

from ..declare import Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold

if TYPE_CHECKING:
    from ..harness.context import RunContext


def plan(values: ParamValues) -> list[Variant]:
    return [Variant("baseline", {"model": "logreg"}, baseline=True)]


EXPERIMENT = Experiment(
    name="logreg",
    title="Logistic regression on digits",
    area="baseline",
    gain_phase="training",
    summary="A linear softmax classifier (one torch linear layer) trained with SGD for a few "
            "hundred steps: a fast, real end-to-end run of the harness.",
    literature="Multinomial logistic regression is the classical linear baseline for image "
               "classification; on the 8x8 UCI digits it reaches roughly 95-97 % test accuracy, "
               "which bounds what any efficiency technique should preserve on this data. "
               "Minibatch SGD converges for this convex problem at rate O(1/sqrt(T)) without "
               "tuning beyond the step size.",
    references=("Alpaydin & Kaynak 1998, Optical Recognition of Handwritten Digits (UCI)",
                "Bottou 2010, Large-Scale Machine Learning with Stochastic Gradient Descent"),
    metrics={"quality": "test_accuracy", "energy": "energy_train_kwh",
             "time": "train_time_s", "size": "model_size_bytes"},
    params=(*common_params(0.9),
        Param("lr", "float", 0.1, "SGD learning rate", min=1e-5, max=10.0),
        Param("batch_size", "int", 64, "minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "train_time_s", "energy_train_kwh",
                                   "model_size_bytes", "latency_b1_ms"),
                  threshold("test_accuracy", ">=", 0.8, "baseline")),
    plan_fn=plan,
)


def run(ctx: RunContext) -> ResultValues:
    from ..harness.models import build
    from ..harness.pipeline import standard_run
    from ..harness.train import TrainConfig
    arch = ctx.arch("logreg")
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(3, 20, 60), batch_size=ctx.integer("batch_size"), lr=ctx.number("lr"),
                      optimizer="sgd", target_val_accuracy=ctx.number("target_val_accuracy"))
    _, values = standard_run(ctx, model, cfg, arch, save=True)
    return values
