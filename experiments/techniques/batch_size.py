"""batch_size: batch sizes with a fixed learning rate and with linear scaling plus warm-up.

The program: SGD with momentum for a fixed number of epochs at one batch size, with the base
learning rate or a linearly scaled one plus warm-up (Goyal et al. 2017).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from contract.events import ResultValues

from ..declare import Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold
from ..paramread import integer, integers

if TYPE_CHECKING:
    from ..harness.context import RunContext


def plan(values: ParamValues) -> list[Variant]:
    # every run trains the same number of epochs (samples), so a larger batch makes fewer steps:
    # a fixed-rate batch is compared with the base batch on energy (fewer, larger steps), and the
    # linearly scaled rate with the fixed rate at the same batch and step budget on accuracy
    base = integer(values, "base_batch_size")
    bname = f"bs{base}"
    out = [Variant(bname, {"batch_size": base, "scaling": "fixed"}, baseline=True)]
    for b in dict.fromkeys(integers(values, "batch_sizes")):
        if b == base:
            continue
        out.append(Variant(f"bs{b}-fixed", {"batch_size": b, "scaling": "fixed"}, references=(bname,),
                           objective="energy", role=f"batch {b} at the base rate: energy of the same epochs"))
        out.append(Variant(f"bs{b}-scaled", {"batch_size": b, "scaling": "linear"},
                           references=(f"bs{b}-fixed", bname), objective="quality",
                           role=f"linear scaling + warm-up at batch {b}: accuracy kept where the fixed rate "
                                "loses it (Goyal et al. 2017)"))
    return out


def headline(values: ParamValues) -> str:
    others = [b for b in dict.fromkeys(integers(values, "batch_sizes")) if b != integer(values, "base_batch_size")]
    return f"bs{max(others)}-scaled"


EXPERIMENT = Experiment(
    name="batch_size",
    title="Batch size with fixed and linearly scaled learning rates",
    area="training",
    gain_phase="training",
    summary="Train the same MLP with SGD+momentum for the same number of epochs at each batch size, "
            "once with the base learning rate and once with the learning rate scaled linearly with "
            "the batch size plus warm-up; compare training throughput, time and steps to target, "
            "final accuracy and memory.",
    literature="With the learning rate scaled linearly with the batch size and a gradual warm-up, "
               "ResNet-50 trained at batch 8K to the same accuracy as at 256 (Goyal et al. 2017); "
               "beyond a problem-dependent critical batch size, larger batches no longer reduce the "
               "number of steps to a target (McCandlish et al. 2018; Shallue et al. 2019), and very "
               "large batches without such care generalise worse (Keskar et al. 2017). Larger batches "
               "raise hardware throughput per sample, while for a fixed number of epochs they make "
               "fewer updates, which is why a fixed learning rate loses accuracy as the batch grows.",
    references=(
        "Goyal et al. 2017, Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour (arXiv:1706.02677)",
        "McCandlish et al. 2018, An Empirical Model of Large-Batch Training (arXiv:1812.06162)",
        "Shallue et al. 2019, Measuring the Effects of Data Parallelism on Neural Network Training (JMLR)",
        "Keskar et al. 2017, On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima (ICLR)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_train_kwh",
             "time": "time_to_target_s", "size": "peak_mem_bytes"},
    params=(*common_params(0.93),
        Param("batch_sizes", "int_list", [32, 64, 128, 256], "batch sizes", min=1, max=8192),
        Param("base_batch_size", "int", 32, "batch size of the baseline and of the base learning rate",
              min=1, max=8192),
        Param("lr", "float", 0.01, "SGD+momentum learning rate at the base batch size", min=1e-6, max=10.0),
        Param("warmup_epochs", "float", 1.0, "linear warm-up of the scaled runs, in epochs", min=0.0, max=100.0),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
    ),
    deliverables=(keys_deliverable("test_accuracy", "train_time_s", "time_to_target_s", "steps_to_target",
                                   "train_throughput_samples_per_s", "peak_mem_bytes",
                                   "activation_mem_bytes", "energy_train_kwh", "budget_steps",
                                   "diverged", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.85, "bs32")),
    plan_fn=plan,
    table_keys=("steps_to_target", "train_throughput_samples_per_s", "lr_used", "budget_steps"),
    headline=headline,
    speedup_batch=None,  # the batch is what this experiment varies
)


def run(ctx: RunContext) -> ResultValues:
    from ..harness.models import build
    from ..harness.pipeline import standard_run
    from ..harness.train import TrainConfig

    b, base = ctx.integer("batch_size"), ctx.integer("base_batch_size")
    scaling = ctx.text("scaling")
    scaled = scaling == "linear"
    lr = ctx.number("lr") * b / base if scaled else ctx.number("lr")
    steps_per_epoch = math.ceil(len(ctx.data().y_train) / b)
    warmup = round(ctx.number("warmup_epochs") * steps_per_epoch) if scaled else 0
    arch = ctx.arch("mlp", hidden=ctx.integers("hidden"))
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(2, 12, 40), batch_size=b, lr=lr, optimizer="momentum",
                      warmup_steps=warmup, target_val_accuracy=ctx.number("target_val_accuracy"), evals_per_epoch=8)
    _, values = standard_run(ctx, model, cfg)
    values.update({"scaling": scaling, "lr_used": lr, "warmup_steps": warmup,
                   "throughput_kind": "inference"})
    return values
