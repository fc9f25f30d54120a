"""edge_onnx: train each image model in FP32 (its ``torch-*`` run), then run it in each edge runtime
at one thread and batch 1, timed against the FP32 PyTorch model in the same process."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from ..deploy import edge
from ..harness.context import RunContext
from ..harness.measure import evaluate, serialized_size
from ..harness.pipeline import train_phase
from ..harness.train import TrainConfig
from .quantization import _arch, convert

#: forward passes timed per latency figure (after 5 warm-up), per profile
LATENCY_REPS = {"smoke": 5, "default": 200, "full": 400}


class OrtModule(nn.Module):
    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return edge.ort_run(self.session, x)


def edge_values(ctx: RunContext, model: nn.Module, ref: nn.Module | None) -> dict[str, Any]:
    """Accuracy of the whole test split at batch 1 on one thread (the inference energy's fixed
    workload), and batch-1 latency interleaved with the FP32 PyTorch model."""
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
    values = {"test_accuracy": acc, "test_loss": loss, "test_eval_time_s": eval_s, "edge_latency_ms": timed["own"],
              "edge_threads": 1, "edge_batch": 1, "inference_samples": len(y)}
    if ref is not None:
        values.update({"ref_edge_latency_ms": timed["ref"], "speedup": timed["ref"] / timed["own"],
                       "max_abs_logit_diff": edge.max_abs_diff(ours, theirs),
                       "prediction_agreement": float((ours.argmax(1) == theirs.argmax(1)).float().mean())})
    return values


def run(ctx: RunContext) -> dict[str, Any]:
    p = ctx.params
    ctx.device = torch.device("cpu")  # the edge profile
    base_name = f"torch-{p['model']}"
    if p["runtime"] == "torch":
        arch = _arch(ctx)
        model = _build(arch)
        cfg = TrainConfig(epochs=ctx.epochs(2, 15 if p["model"] == "mlp" else 12, 60), batch_size=p["batch_size"],
                          lr=p["lr"], optimizer="adam", target_val_accuracy=p["target_val_accuracy"])
        _, values = train_phase(ctx, model, cfg)
        ctx.save_model(model, arch)
        values.update(edge_values(ctx, model.eval(), None))
        values.update({"runtime": "torch", "model_size_bytes": serialized_size(model),
                       "budget_steps": values.get("train_steps"), "diverged": bool(values.get("diverged", False))})
        return values
    base = ctx.dep(base_name).get("result") or {}
    ref, _ = ctx.load_model(base_name)
    ref = ref.cpu().eval()
    example = ctx.tensors()["x_test"][:1]
    if p["runtime"] == "torch-int8":
        model = convert(ctx.load_model(base_name)[0].cpu(), "int8")
        path = ctx.out_dir / "model-int8.pt"
        torch.save(model.state_dict(), path)
    else:
        path = edge.export(ref, example, ctx.out_dir / "model.onnx", {0: "batch"})
        if p["runtime"] == "onnx-int8":
            path = edge.ort_int8(path, ctx.out_dir / "model-int8.onnx")
        model = OrtModule(edge.edge_session(path))
    ctx.events.artifact(path.name, "model")
    values = edge_values(ctx, model, ref)
    values.update({"runtime": p["runtime"], "model_size_bytes": edge.file_bytes(path),
                   "compression_ratio": (base.get("model_size_bytes") or 0) / edge.file_bytes(path),
                   "accuracy_drop": (base["test_accuracy"] - values["test_accuracy"])
                   if base.get("test_accuracy") is not None else None,
                   "budget_steps": base.get("budget_steps"), "diverged": bool(base.get("diverged", False)),
                   "train_steps": 0})
    if p["runtime"] != "torch-int8":
        values["onnxruntime_version"] = _version("onnxruntime")
    if p["runtime"] == "onnx-int8":
        values["ort_int8_weights"] = edge.ort_int8_weights()
    return values


def _build(arch: dict[str, Any]) -> nn.Module:
    from ..harness.models import build
    return build(arch)


def _version(name: str) -> str:
    from importlib.metadata import version
    return version(name)
