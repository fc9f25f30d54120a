"""edge_onnx: the lab's image models exported to ONNX and run by ONNX Runtime on an edge profile
(one thread, batch 1), in FP32 and with ONNX Runtime's dynamic INT8 against the lab's INT8."""

from __future__ import annotations

from ..declare import Experiment, Param, Variant, common_params, keys_deliverable, threshold

MODELS = ("mlp", "transformer")
RUNTIMES = ("onnx", "torch-int8", "onnx-int8")
ROLES = {"onnx": "ONNX Runtime, FP32", "torch-int8": "the lab's INT8 (torch.ao dynamic, every linear layer)",
         "onnx-int8": "ONNX Runtime's dynamic INT8 (its quantize_dynamic), against the lab's INT8"}


def plan(values: dict) -> list[Variant]:
    out: list[Variant] = []
    runtimes = list(dict.fromkeys(values["runtimes"]))
    for i, model in enumerate(dict.fromkeys(values["models"])):
        base = f"torch-{model}"
        out.append(Variant(base, {"model": model, "runtime": "torch"}, baseline=i == 0,
                           reference=None if i == 0 else base,
                           role="trained in PyTorch FP32, timed at one thread, batch 1"))
        for r in runtimes:
            refs: tuple[str, ...] = (base,)
            if r == "onnx-int8":
                refs = tuple(f"{x}-{model}" for x in ("torch-int8", "onnx") if x in runtimes) + (base,)
            out.append(Variant(f"{r}-{model}", {"model": model, "runtime": r}, depends_on=(base,), references=refs,
                               objective="latency", role=f"{ROLES[r]}, one thread, batch 1"))
    return out


def headline(values: dict) -> str:
    runtimes = list(dict.fromkeys(values["runtimes"]))
    model = list(dict.fromkeys(values["models"]))[-1]
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
    params=tuple(common_params(0.9)) + (
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
)
