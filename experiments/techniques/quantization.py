"""quantization: post-training INT8 (dynamic), FP16 and BF16 weights against the FP32 model.

The program: train FP32 (baseline variants), or convert the baseline's checkpoint.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import INFERENCE_BATCH, Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold
from ..paramread import texts

if TYPE_CHECKING:
    from torch import nn

    from ..harness.context import RunContext
    from ..harness.models import Arch


MODELS = ("mlp", "transformer")
PRECISIONS = ("int8", "fp16", "bf16")


def plan(values: ParamValues) -> list[Variant]:
    out: list[Variant] = []
    for i, model in enumerate(dict.fromkeys(texts(values, "models"))):
        base = f"fp32-{model}"
        # each model's FP32 run is the control of its own conversions
        out.append(Variant(base, {"model": model, "precision": "fp32"}, baseline=i == 0,
                           reference=None if i == 0 else base))
        for prec in dict.fromkeys(texts(values, "precisions")):
            out.append(Variant(f"{prec}-{model}", {"model": model, "precision": prec},
                               depends_on=(base,), references=(base,), objective=OBJECTIVE[prec],
                               role=ROLE[prec]))
    return out


#: INT8 dynamic quantization cuts the linear layers' compute and 4x the weight bytes; FP16/BF16
#: weights halve the bytes, and their speed depends on the hardware (Jacob et al. 2018)
OBJECTIVE = {"int8": "energy", "fp16": "size", "bf16": "size"}
ROLE = {"int8": "post-training INT8: less inference energy at kept accuracy, timed against FP32 in the same process",
        "fp16": "FP16 weights: half the stored bytes at kept accuracy",
        "bf16": "BF16 weights: half the stored bytes at kept accuracy"}


def headline(values: ParamValues) -> str:
    models = list(dict.fromkeys(texts(values, "models")))
    precisions = list(dict.fromkeys(texts(values, "precisions")))
    return f"{'int8' if 'int8' in precisions else precisions[0]}-{models[0]}"


EXPERIMENT = Experiment(
    name="quantization",
    title="Post-training quantization: INT8 dynamic, FP16 and BF16 weights",
    area="compression",
    gain_phase="inference",
    summary="Train an FP32 MLP and a small transformer, then convert each trained model to dynamic "
            "INT8 (torch.ao.quantization), FP16 and BF16 weights and compare accuracy, size, and "
            "latency and inference energy at batch 64, each conversion timed against its FP32 model "
            "in the same process.",
    literature="Post-training 8-bit quantization usually costs under 1 % accuracy on vision and "
               "language models while storing weights in a quarter of the bytes (Jacob et al. 2018; "
               "Krishnamoorthi 2018; Gholami et al. 2021). Dynamic quantization, which quantizes "
               "weights ahead of time and activations on the fly, targets linear-layer-heavy models "
               "such as LSTMs and transformers on CPUs, where 1.5-3x speedups are reported for large "
               "layers; for tiny layers the quantize/dequantize overhead can erase the gain. Halving "
               "precision to FP16/BF16 halves the size essentially without accuracy loss, but speed "
               "depends on hardware support: GPUs with tensor cores gain, CPUs without native "
               "half-precision arithmetic are often slower than FP32.",
    references=(
        "Jacob et al. 2018, Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference (CVPR)",
        "Krishnamoorthi 2018, Quantizing deep convolutional networks for efficient inference: A whitepaper (arXiv:1806.08342)",
        "Gholami et al. 2021, A Survey of Quantization Methods for Efficient Neural Network Inference (arXiv:2103.13630)",
        "Dettmers et al. 2022, LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale (NeurIPS)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_inference_kwh",
             "time": "latency_b64_ms", "size": "model_size_bytes"},
    params=(*common_params(0.9),
        Param("models", "str_list", list(MODELS), "models to train and quantize", choices=MODELS),
        Param("precisions", "str_list", list(PRECISIONS), "post-training conversions of each FP32 model",
              choices=PRECISIONS),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("dim", "int", 64, "transformer width", min=8, max=1024),
        Param("depth", "int", 2, "transformer blocks", min=1, max=24),
        Param("lr", "float", 1e-3, "Adam learning rate of the FP32 training", min=1e-6, max=1.0),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "model_size_bytes", "compression_ratio",
                                   "latency_b1_ms", "latency_b64_ms", "accuracy_drop",
                                   "energy_inference_kwh", "budget_steps", "diverged", "energy_mode"),
                  threshold("test_accuracy", ">=", 0.8, "fp32-mlp"),
                  threshold("compression_ratio", ">=", 3.0, "int8-mlp")),
    plan_fn=plan,
    table_keys=("compression_ratio", "speedup", "latency_b1_ms", "accuracy_drop"),
    headline=headline,
    speedup_batch=INFERENCE_BATCH,
)


def _arch(ctx: RunContext) -> Arch:
    if ctx.text("model") == "mlp":
        return ctx.arch("mlp", hidden=ctx.integers("hidden"))
    return ctx.arch("transformer", patch=2, dim=ctx.integer("dim"), depth=ctx.integer("depth"), heads=4, mlp_ratio=2)


def convert(model: nn.Module, precision: str) -> nn.Module:
    """Post-training conversion of a trained FP32 model."""
    import torch
    from torch import nn

    model.eval()
    if precision == "int8":
        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao, not yet removed
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            from torch.ao.quantization import quantize_dynamic
            # torch's quantize_dynamic is unannotated; it returns the quantized copy
            quantized: nn.Module = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
            return quantized
    if precision == "fp16":
        return model.half()
    if precision == "bf16":
        return model.to(torch.bfloat16)
    raise ValueError(precision)


def run(ctx: RunContext) -> ResultValues:
    import torch

    from ..harness.models import build
    from ..harness.pipeline import inference_phase, standard_run, static_measures
    from ..harness.train import TrainConfig

    precision, model_kind = ctx.text("precision"), ctx.text("model")
    if precision == "fp32":
        arch = _arch(ctx)
        model = build(arch).to(ctx.device)
        cfg = TrainConfig(epochs=ctx.epochs(2, 15 if model_kind == "mlp" else 12, 60),
                          batch_size=ctx.integer("batch_size"), lr=ctx.number("lr"), optimizer="adam",
                          target_val_accuracy=ctx.number("target_val_accuracy"))
        _, values = standard_run(ctx, model, cfg, arch, save=True)
        values.update({"precision": "fp32", "compression_ratio": 1.0, "accuracy_drop": 0.0})
        return values
    base_name = f"fp32-{model_kind}"
    base = ctx.dep(base_name).result or {}
    model, _ = ctx.load_model(base_name)
    reference, _ = ctx.load_model(base_name)  # the FP32 model, timed beside its conversion
    if precision == "int8" and ctx.device.type != "cpu":
        model, reference = model.cpu(), reference.cpu()  # dynamic quantized kernels are CPU kernels
        ctx.device = torch.device("cpu")
    fp32_measures = static_measures(ctx, model)
    model = convert(model, precision)
    values = inference_phase(ctx, model, reference=reference.eval(), reference_name=base_name)
    measured = static_measures(ctx, model)
    # packed INT8 weights are not nn.Parameters and the FLOP counter skips quantized kernels:
    # parameter counts and FLOPs are those of the network being run, taken before conversion
    values.update({k: fp32_measures[k] for k in ("params_total", "params_trainable", "params_nonzero")})
    values["flops_per_forward"] = fp32_measures["flops_per_forward"]
    values["model_size_bytes"] = measured["model_size_bytes"]
    values["precision"] = precision
    base_size = number_at(base, "model_size_bytes") or required_number(fp32_measures, "model_size_bytes")
    values["compression_ratio"] = base_size / required_number(values, "model_size_bytes")
    # a conversion trains nothing: its budget and divergence are those of the FP32 model it converts
    values["budget_steps"] = base.get("budget_steps")
    values["diverged"] = bool(base.get("diverged", False))
    values["baseline_test_accuracy"] = base.get("test_accuracy")
    base_accuracy = number_at(base, "test_accuracy")
    values["accuracy_drop"] = (base_accuracy - required_number(values, "test_accuracy")
                               if base_accuracy is not None else None)
    return values
