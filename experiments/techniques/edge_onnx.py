"""edge_onnx: the lab's image models exported to ONNX and run by ONNX Runtime on an edge profile
(one thread, batch 1), in FP32 and with ONNX Runtime's dynamic INT8 against the lab's INT8.

The program: train each image model in FP32 (its ``torch-*`` run), then run it in each edge runtime
at one thread and batch 1, timed against the FP32 PyTorch model in the same process.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from contract.events import ResultValues
from contract.jsonvalue import number_at, required_number

from ..declare import Experiment, Param, ParamValues, Variant, common_params, keys_deliverable, threshold
from ..paramread import texts
from .quantization import _arch, convert

if TYPE_CHECKING:
    from torch import nn

    from ..harness.context import RunContext
    from ..harness.models import Arch


MODELS = ("mlp", "transformer")
RUNTIMES = ("onnx", "torch-int8", "onnx-int8")
ROLES = {"onnx": "ONNX Runtime, FP32", "torch-int8": "the lab's INT8 (torch.ao dynamic, every linear layer)",
         "onnx-int8": "ONNX Runtime's dynamic INT8 (its quantize_dynamic), against the lab's INT8"}


def plan(values: ParamValues) -> list[Variant]:
    out: list[Variant] = []
    runtimes = list(dict.fromkeys(texts(values, "runtimes")))
    for i, model in enumerate(dict.fromkeys(texts(values, "models"))):
        base = f"torch-{model}"
        out.append(Variant(base, {"model": model, "runtime": "torch"}, baseline=i == 0,
                           reference=None if i == 0 else base,
                           role="trained in PyTorch FP32, timed at one thread, batch 1"))
        for r in runtimes:
            refs: tuple[str, ...] = (base,)
            if r == "onnx-int8":
                refs = (*(f"{x}-{model}" for x in ("torch-int8", "onnx") if x in runtimes), base)
            out.append(Variant(f"{r}-{model}", {"model": model, "runtime": r}, depends_on=(base,), references=refs,
                               objective="latency", role=f"{ROLES[r]}, one thread, batch 1"))
    return out


def headline(values: ParamValues) -> str:
    runtimes = list(dict.fromkeys(texts(values, "runtimes")))
    model = list(dict.fromkeys(texts(values, "models")))[-1]
    return f"{'onnx-int8' if 'onnx-int8' in runtimes else runtimes[0]}-{model}"


EXPERIMENT = Experiment(
    name="edge_onnx",
    title="Image models at the edge: ONNX Runtime FP32 and INT8 against PyTorch, one thread, batch 1",
    area="inference",
    gain_phase="inference",
    summary="Train the MLP and the small transformer in FP32, export each to ONNX and run it with ONNX Runtime "
            "on one thread at batch 1 (the edge profile), in FP32 and after ONNX Runtime's dynamic INT8 "
            "quantization, against PyTorch FP32 and the lab's INT8 (torch.ao dynamic) on the same thread: "
            "accuracy, latency, bytes on disk and inference energy, outputs compared with PyTorch's.",
    literature="ONNX Runtime's graph optimisations (operator fusion, constant folding) and its kernels usually "
               "run small models faster than eager PyTorch at batch 1, where PyTorch's per-operator dispatch "
               "dominates. Dynamic INT8 quantization stores weights in a quarter of the bytes and speeds up "
               "linear layers on CPUs with integer dot-product instructions; accuracy usually stays within 1 "
               "point (Jacob et al. 2018; Krishnamoorthi 2018), and for tiny layers the run-time quantization "
               "of activations can cancel the gain.",
    references=(
        "ONNX Runtime developers 2021-, ONNX Runtime: quantize ONNX models (onnxruntime.ai/docs/performance/"
        "model-optimizations/quantization.html)",
        "Jacob et al. 2018, Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only "
        "Inference (CVPR)",
        "Krishnamoorthi 2018, Quantizing deep convolutional networks for efficient inference: A whitepaper "
        "(arXiv:1806.08342)",
    ),
    metrics={"quality": "test_accuracy", "energy": "energy_inference_kwh", "time": "edge_latency_ms",
             "size": "model_size_bytes"},
    params=(*common_params(0.9),
        Param("models", "str_list", list(MODELS), "models to train and deploy", choices=MODELS),
        Param("runtimes", "str_list", list(RUNTIMES), "edge runtimes of each model", choices=RUNTIMES),
        Param("hidden", "int_list", [256, 256], "MLP hidden layer widths", min=1, max=8192),
        Param("dim", "int", 64, "transformer width", min=8, max=1024),
        Param("depth", "int", 2, "transformer blocks", min=1, max=24),
        Param("lr", "float", 1e-3, "Adam learning rate of the FP32 training", min=1e-6, max=1.0),
        Param("batch_size", "int", 64, "training minibatch size", min=1, max=4096),
    ),
    deliverables=(keys_deliverable("test_accuracy", "model_size_bytes", "edge_latency_ms", "energy_inference_kwh",
                                   "budget_steps", "diverged", "energy_mode"),
                  {**keys_deliverable("max_abs_logit_diff", "ref_edge_latency_ms", "speedup",
                                      "prediction_agreement"), "variant": "onnx-mlp"},
                  threshold("max_abs_logit_diff", "<", 1e-4, "onnx-mlp"),
                  threshold("test_accuracy", ">=", 0.8, "torch-mlp")),
    plan_fn=plan,
    table_keys=("edge_latency_ms", "speedup", "model_size_bytes", "prediction_agreement", "max_abs_logit_diff"),
    headline=headline,
    speedup_batch=1,
    no_zoo_model=("its headline is an ONNX Runtime model (model-int8.onnx or model.onnx in the run's folder), not a "
                  "torch model; the FP32 model it was exported from is its torch-* variant's"),
)


#: forward passes timed per latency figure (after 5 warm-up), per profile
LATENCY_REPS = {"smoke": 5, "default": 200, "full": 400}


def edge_values(ctx: RunContext, model: nn.Module, ref: nn.Module | None) -> ResultValues:
    """Accuracy of the whole test split at batch 1 on one thread (the inference energy's fixed
    workload), and batch-1 latency interleaved with the FP32 PyTorch model."""
    import torch

    from ..deploy import edge
    from ..harness.measure import evaluate

    t = ctx.tensors()
    x, y = t["x_test"], t["y_test"]
    with edge.OneThread(), torch.inference_mode():
        with ctx.energy.phase("inference"):
            t0 = time.perf_counter()
            acc, loss = evaluate(model, x, y, batch_size=1)
            eval_s = time.perf_counter() - t0
        one = x[:1]
        runs = {"own": lambda: model(one), **({"ref": lambda: ref(one)} if ref is not None else {})}
        timed = edge.interleaved_ms(runs, 5, LATENCY_REPS[ctx.profile])
        if ref is not None:
            ours = torch.cat([model(x[i:i + 64]) for i in range(0, len(x), 64)]).float()
            theirs = torch.cat([ref(x[i:i + 64]) for i in range(0, len(x), 64)]).float()
    values: ResultValues = {"test_accuracy": acc, "test_loss": loss, "test_eval_time_s": eval_s, "edge_latency_ms": timed["own"],
              "edge_threads": 1, "edge_batch": 1, "inference_samples": len(y)}
    if ref is not None:
        values.update({"ref_edge_latency_ms": timed["ref"], "speedup": timed["ref"] / timed["own"],
                       "max_abs_logit_diff": edge.max_abs_diff(ours, theirs),
                       "prediction_agreement": float((ours.argmax(1) == theirs.argmax(1)).float().mean())})
    return values


def run(ctx: RunContext) -> ResultValues:
    import torch

    from ..deploy import edge
    from ..harness.measure import serialized_size
    from ..harness.pipeline import train_phase
    from ..harness.train import TrainConfig

    runtime, model_kind = ctx.text("runtime"), ctx.text("model")
    ctx.device = torch.device("cpu")  # the edge profile
    base_name = f"torch-{model_kind}"
    if runtime == "torch":
        arch = _arch(ctx)
        model = _build(arch)
        cfg = TrainConfig(epochs=ctx.epochs(2, 15 if model_kind == "mlp" else 12, 60), batch_size=ctx.integer("batch_size"),
                          lr=ctx.number("lr"), optimizer="adam", target_val_accuracy=ctx.number("target_val_accuracy"))
        _, values = train_phase(ctx, model, cfg)
        ctx.save_model(model, arch)
        values.update(edge_values(ctx, model.eval(), None))
        values.update({"runtime": "torch", "model_size_bytes": serialized_size(model),
                       "budget_steps": values.get("train_steps"), "diverged": bool(values.get("diverged", False))})
        return values
    base = ctx.dep(base_name).result or {}
    ref, _ = ctx.load_model(base_name)
    ref = ref.cpu().eval()
    example = ctx.tensors()["x_test"][:1]
    if runtime == "torch-int8":
        model = convert(ctx.load_model(base_name)[0].cpu(), "int8")
        path = ctx.out_dir / "model-int8.pt"
        torch.save(model.state_dict(), path)
    else:
        path = edge.export(ref, example, ctx.out_dir / "model.onnx", {0: "batch"})
        if runtime == "onnx-int8":
            path = edge.ort_int8(path, ctx.out_dir / "model-int8.onnx")
        model = edge.OrtModule(edge.edge_session(path))
    ctx.events.artifact(path.name, "model")
    values = edge_values(ctx, model, ref)
    values.update({"runtime": runtime, "model_size_bytes": edge.file_bytes(path),
                   "compression_ratio": (number_at(base, "model_size_bytes") or 0) / edge.file_bytes(path),
                   "accuracy_drop": (base_accuracy - required_number(values, "test_accuracy"))
                   if (base_accuracy := number_at(base, "test_accuracy")) is not None else None,
                   "budget_steps": base.get("budget_steps"), "diverged": bool(base.get("diverged", False)),
                   "train_steps": 0})
    if runtime != "torch-int8":
        values["onnxruntime_version"] = _version("onnxruntime")
    if runtime == "onnx-int8":
        values["ort_int8_weights"] = edge.ort_int8_weights()
    return values


def _build(arch: Arch) -> nn.Module:
    from ..harness.models import build
    return build(arch)


def _version(name: str) -> str:
    from importlib.metadata import version
    return version(name)
