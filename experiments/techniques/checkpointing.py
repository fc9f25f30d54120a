"""checkpointing: activation checkpointing of a deep residual MLP, several depths.

The program: a deep residual MLP with or without activation checkpointing every k blocks.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold, training_batch
from ..paramread import flag, integers

if TYPE_CHECKING:
    from ..harness.context import RunContext


def segments(depth: int, values: ParamValues) -> list[int]:
    """Segment lengths tried at ``depth``: the declared ones, plus round(sqrt(depth)) (Chen et al.
    2016's O(sqrt(n)) schedule) when ``sqrt_k`` is set; at most ``depth``."""
    ks = integers(values, "every_k")
    if flag(values, "sqrt_k"):
        ks.append(max(1, round(math.sqrt(depth))))
    return sorted(dict.fromkeys(min(k, depth) for k in ks))


def plan(values: ParamValues) -> list[Variant]:
    depths = sorted(dict.fromkeys(integers(values, "depths")))
    out: list[Variant] = []
    for d in depths:
        plain = f"plain-d{d}"
        # checkpointing is compared with the plain network of the same depth
        out.append(Variant(plain, {"depth": d, "every_k": 0}, baseline=d == depths[-1],
                           reference=None if d == depths[-1] else plain))
        for k in segments(d, values):
            sqrt = " (about sqrt(n))" if k == max(1, round(math.sqrt(d))) and flag(values, "sqrt_k") else ""
            out.append(Variant(f"ckpt-d{d}-k{k}", {"depth": d, "every_k": k}, depends_on=(plain,),
                               references=(plain,), objective="memory",
                               role=f"segments of {k} block(s){sqrt}: less memory per training step "
                                    f"(recomputation included) than the plain depth-{d} net"))
    return out


def headline(values: ParamValues) -> str:
    d = max(integers(values, "depths"))
    return f"ckpt-d{d}-k{segments(d, values)[-1] if flag(values, 'sqrt_k') else segments(d, values)[0]}"


EXPERIMENT = Experiment(
    name="checkpointing",
    title="Activation checkpointing: memory against recomputation",
    area="memory",
    gain_phase="training",
    summary="Train a deep residual MLP at several depths with and without torch.utils.checkpoint "
            "over segments of 1, 2 and about sqrt(n) blocks; compare the memory of a training step "
            "(its peak, recomputation included), the activations saved for backward, the step time "
            "overhead and the accuracy (which should not change).",
    literature="Storing only segment boundaries and recomputing the rest during the backward pass "
               "reduces activation memory from O(n) to O(sqrt(n)) for an n-layer network at the cost "
               "of about one extra forward pass, i.e. 20-35 % more training time (Chen et al. 2016; "
               "Griewank & Walther 2000). Optimal schedules trade memory and recomputation more finely "
               "(Checkmate, Jain et al. 2020). The saving matters when activations dominate memory "
               "(deep or wide networks, large batches, long sequences); for small models the fixed "
               "process memory hides it.",
    references=(
        "Chen et al. 2016, Training Deep Nets with Sublinear Memory Cost (arXiv:1604.06174)",
        "Griewank & Walther 2000, Algorithm 799: revolve (ACM TOMS)",
        "Jain et al. 2020, Checkmate: Breaking the Memory Wall with Optimal Tensor Rematerialization (MLSys)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_train_kwh",
             "time": "step_time_ms", "size": "activation_mem_bytes", "memory": "step_peak_mem_bytes"},
    params=(*common_params(0.9),
        Param("depths", "int_list", [9, 36], "numbers of residual blocks", min=1, max=512),
        Param("every_k", "int_list", [1, 2], "checkpoint segments of k blocks (one variant per k)",
              min=1, max=512),
        Param("sqrt_k", "bool", True, "also try segments of round(sqrt(depth)) blocks"),
        Param("width", "int", 256, "width of every block", min=8, max=8192),
        Param("lr", "float", 1e-3, "Adam learning rate", min=1e-6, max=1.0),
        Param("batch_size", "int", 128, "training minibatch size", min=1, max=8192),
    ),
    deliverables=(keys_deliverable("test_accuracy", "activation_mem_bytes", "step_peak_mem_bytes",
                                   "peak_mem_bytes", "step_time_ms", "step_time_overhead",
                                   "activation_mem_ratio", "step_peak_mem_ratio", "budget_steps",
                                   "diverged", "energy_train_kwh", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.7, "baseline")),
    plan_fn=plan,
    table_keys=("step_peak_mem_bytes", "step_peak_mem_ratio", "activation_mem_ratio", "step_time_overhead"),
    headline=headline,
    speedup_batch=training_batch,
)


def run(ctx: RunContext) -> ResultValues:
    from ..harness.models import build
    from ..harness.pipeline import standard_run
    from ..harness.train import TrainConfig

    depth, k = ctx.integer("depth"), ctx.integer("every_k")
    arch = ctx.arch("deep_mlp", width=ctx.integer("width"), depth=depth, every_k=k)
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(1, 3, 12), batch_size=ctx.integer("batch_size"), lr=ctx.number("lr"),
                      optimizer="adam", target_val_accuracy=ctx.number("target_val_accuracy"))
    _, values = standard_run(ctx, model, cfg)
    steps = number_at(values, "train_steps") or 1
    values.update({"depth": depth, "every_k": k, "checkpointed": k > 0,
                   "step_time_ms": 1000.0 * required_number(values, "train_time_s") / steps})
    if k == 0:
        values.update({"step_time_overhead": 1.0, "activation_mem_ratio": 1.0, "step_peak_mem_ratio": 1.0,
                       "peak_mem_ratio": 1.0})
        return values
    plain = ctx.dep(f"plain-d{depth}").result or {}

    def ratio(key: str) -> float | None:
        reference = number_at(plain, key)
        return required_number(values, key) / reference if reference else None

    values["step_time_overhead"] = ratio("step_time_ms")
    values["activation_mem_ratio"] = ratio("activation_mem_bytes")
    values["step_peak_mem_ratio"] = ratio("step_peak_mem_bytes")
    values["peak_mem_ratio"] = ratio("peak_mem_bytes")
    return values
