"""mixed_precision: FP32 against BF16 autocast and FP16 autocast with a gradient scaler.

The program: one model trained in FP32, BF16 autocast or FP16 autocast + GradScaler.
(FP16 on a CPU never gets here: the catalog's skip check records it as skipped.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.events import ResultValues

from ..declare import Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold, training_batch
from ..paramread import texts

if TYPE_CHECKING:
    from ..harness.context import RunContext


PRECISIONS = ("fp32", "bf16", "fp16")


def plan(values: ParamValues) -> list[Variant]:
    out = [Variant("fp32", {"precision": "fp32"}, baseline=True)]
    for q in dict.fromkeys(texts(values, "precisions")):
        if q != "fp32":
            out.append(Variant(q, {"precision": q}, references=("fp32",), objective="energy",
                               role=f"{q.upper()} autocast: less training energy (and time) than FP32 "
                                    "at kept accuracy where the hardware has fast half-precision units"))
    return out


def headline(values: ParamValues) -> str:
    others = [q for q in dict.fromkeys(texts(values, "precisions")) if q != "fp32"]
    return "bf16" if "bf16" in others else others[0]


def skip(params: ParamValues, device: str) -> str | None:
    """Decided before torch is imported: FP16 autocast training needs a CUDA GPU."""
    if params.get("precision") == "fp16" and device != "cuda":
        return ("FP16 autocast with a gradient scaler needs a CUDA device; this run is on "
                f"{device}, where PyTorch trains in FP16 only by emulation, so there is nothing "
                "honest to measure")
    return None


EXPERIMENT = Experiment(
    name="mixed_precision",
    title="Mixed-precision training: FP32, BF16 autocast, FP16 autocast + loss scaling",
    area="training",
    gain_phase="training",
    summary="Train the same model in FP32, with BF16 autocast and with FP16 autocast plus a "
            "gradient scaler; compare training time, throughput, activation and peak memory and "
            "accuracy. FP16 on a CPU is recorded as skipped, with its reason.",
    literature="Training with FP16 activations and gradients, FP32 master weights and loss scaling "
               "matches FP32 accuracy across vision, speech and language models while halving "
               "activation memory and giving 2-3x speedups on GPUs with tensor cores (Micikevicius et "
               "al. 2018). BF16 keeps FP32's exponent range, so it needs no loss scaling and also "
               "matches FP32 accuracy (Kalamkar et al. 2019). The speedup exists only where the "
               "hardware has fast half-precision units: on CPUs without AVX512-BF16/AMX, autocast "
               "adds casts and is often slower than FP32, and small models are dominated by overhead "
               "rather than arithmetic.",
    references=(
        "Micikevicius et al. 2018, Mixed Precision Training (ICLR)",
        "Kalamkar et al. 2019, A Study of BFLOAT16 for Deep Learning Training (arXiv:1905.12322)",
        "NVIDIA 2023, Train With Mixed Precision (Deep Learning Performance Guide)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_train_kwh",
             "time": "train_time_s", "size": "activation_mem_bytes", "memory": "activation_mem_bytes"},
    params=(*common_params(0.9),
        Param("precisions", "str_list", list(PRECISIONS), "training precisions (fp32 always runs "
              "as the baseline)", choices=PRECISIONS),
        Param("model", "choice", "mlp", "model to train", choices=("mlp", "cnn", "transformer")),
        Param("hidden", "int_list", [512, 512], "MLP hidden layer widths", min=1, max=8192),
        Param("lr", "float", 1e-3, "Adam learning rate", min=1e-6, max=1.0),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "train_time_s", "train_throughput_samples_per_s",
                                   "activation_mem_bytes", "step_peak_mem_bytes", "peak_mem_bytes",
                                   "energy_train_kwh", "budget_steps", "diverged", "cpu_flags", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.8, "fp32")),
    plan_fn=plan,
    table_keys=("train_throughput_samples_per_s", "step_peak_mem_bytes"),
    skip_fn=skip,
    headline=headline,
    speedup_batch=training_batch,
)


def run(ctx: RunContext) -> ResultValues:
    import torch

    from ..harness.models import build
    from ..harness.pipeline import standard_run
    from ..harness.train import TrainConfig

    precision = ctx.text("precision")
    if precision == "bf16" and ctx.device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return {"skipped": True, "skip_reason": "this GPU does not support BF16"}
    model_kind = ctx.text("model")
    if model_kind == "mlp":
        arch = ctx.arch("mlp", hidden=ctx.integers("hidden"))
    elif model_kind == "cnn":
        arch = ctx.arch("cnn", channels=[32, 64, 128])
    else:
        arch = ctx.arch("transformer", patch=2, dim=64, depth=2, heads=4, mlp_ratio=4)
    model = build(arch).to(ctx.device)
    cfg = TrainConfig(epochs=ctx.epochs(2, 12, 40), batch_size=ctx.integer("batch_size"), lr=ctx.number("lr"),
                      optimizer="adam", precision=precision,
                      target_val_accuracy=ctx.number("target_val_accuracy"))
    _, values = standard_run(ctx, model, cfg)
    values.update({"precision": precision, "throughput_kind": "inference",
                   "autocast_dtype": {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}[precision]})
    return values
