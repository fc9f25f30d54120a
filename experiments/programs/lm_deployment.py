"""lm_deployment: the ``base`` run scores the model in PyTorch at the edge profile; every other run
writes one deployment format of it, reads it back, scores it through its runtime and times it
against PyTorch FP32 (one thread, batch 1) in the same process."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..catalog.lm_deployment import LATENCY_REPS
from ..deploy import edge, gguf_export
from ..harness.context import RunContext
from ..lm import packed
from ..lm.models import block_linears
from ..lm.packed import LayerFormat, as_linear_blocks, set_module
from ..lm.quantize import Int4Linear, int8_dynamic, rtn_int4
from ..lm.session import LMRun, run_base

GROUP = 128  # the lab's INT4 groups (compression_pipeline's default)


class _Logits:
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits


class OrtLM(nn.Module):
    """An ONNX Runtime session that the lab's scorer calls like a causal LM."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> _Logits:
        return _Logits(edge.ort_run(self.session, input_ids))


def window(lm: LMRun) -> torch.Tensor:
    """The batch-1 input every runtime is timed on: one context-length window of the test split."""
    row, _ = lm.latency_batches()
    return row.cpu()


def edge_measures(lm: LMRun, model: nn.Module, runtime: Any | None, ref: nn.Module | None,
                  latency: bool = True) -> dict[str, Any]:
    """Perplexity and its energy through the runtime at one thread; with ``latency``, the batch-1
    latency, interleaved with PyTorch FP32 (``ref``) when given. A format without a runtime here
    (GGUF, the packed weights) is scored in PyTorch with its read-back weights, and not timed."""
    x = window(lm)
    reps = LATENCY_REPS[lm.ctx.profile]
    scored = OrtLM(runtime) if runtime is not None else model
    values: dict[str, Any] = {}
    with edge.OneThread():
        with lm.ctx.energy.phase("inference"):
            t0 = time.perf_counter()
            test = lm.score(scored, "test", "fp32")
            values["test_eval_time_s"] = time.perf_counter() - t0
        if latency:
            with torch.inference_mode():
                own = (lambda: edge.ort_run(runtime, x)) if runtime is not None else (lambda: model(input_ids=x))
                runs = {"own": own, **({"ref": lambda: ref(input_ids=x)} if ref is not None else {})}
                timed = edge.interleaved_ms(runs, 3, reps)
            values.update({"edge_latency_ms": timed["own"], "edge_threads": 1, "edge_batch": 1,
                           "edge_tokens": int(x.shape[1])})
            if "ref" in timed:
                values.update({"ref_edge_latency_ms": timed["ref"], "speedup": timed["ref"] / timed["own"]})
    values.update(test.values("test"))
    return values


def gguf_variant(lm: LMRun, kind: str, base: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    path = lm.ctx.out_dir / f"model-{kind}.gguf"
    written = gguf_export.write(base, lm.tokenizer(), path, kind)
    lm.ctx.events.artifact(path.name, "model")
    back = gguf_export.read(path)
    values = gguf_export.compare(base, back)
    values.update({"gguf_type": kind, "gguf_version": gguf_export.gguf_version(),
                   "gguf_fallback_tensors": written.fallbacks,
                   "gguf_types_written": sorted(set(written.types.values())),
                   "gguf_architecture": back.fields.get("general.architecture"),
                   "gguf_token_count": len(back.fields.get("tokenizer.ggml.tokens") or []),
                   "model_size_bytes": written.size_bytes})
    values.update(edge.zstd_file(path, int(lm.ctx.params["zstd_level"])))
    model = gguf_export.load_into(copy.deepcopy(base), back)
    return model, values


def packed_variant(lm: LMRun, base: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    model = as_linear_blocks(copy.deepcopy(base))
    formats = {}
    for name, module in block_linears(model):
        set_module(model, name, Int4Linear(rtn_int4(module.weight, GROUP), module.bias))
        formats[name] = LayerFormat("dense", "int4", GROUP)
    folder = lm.ctx.out_dir / "packed"
    size = packed.save(model, folder, formats, {}, {"chain": ["int4 round-to-nearest, groups of 128"]})
    lm.ctx.events.artifact("packed", "model")
    values: dict[str, Any] = {"model_size_bytes": size}
    values.update(edge.zstd_file(folder / packed.WEIGHTS, int(lm.ctx.params["zstd_level"])))
    values["zstd_size_bytes"] += size - edge.file_bytes(folder / packed.WEIGHTS)  # config and manifest as they are
    back, _, _, _ = packed.load(folder, torch.device("cpu"))
    return back, values


def onnx_variant(lm: LMRun, base: nn.Module, int8: bool) -> tuple[Any, dict[str, Any]]:
    path = edge.export(edge.LogitsOnly(base), window(lm), lm.ctx.out_dir / "model.onnx", {0: "batch", 1: "tokens"})
    if int8:
        path = edge.ort_int8(path, lm.ctx.out_dir / "model-int8.onnx")
    lm.ctx.events.artifact(path.name, "model")
    session = edge.edge_session(path)
    x = window(lm)
    with torch.inference_mode():
        diff = edge.max_abs_diff(edge.ort_run(session, x), base(input_ids=x).logits)
    values = {"model_size_bytes": edge.file_bytes(path), "max_abs_logit_diff": diff,
              "onnxruntime_version": _version("onnxruntime"), "onnx_opset": edge.OPSET}
    if int8:
        values["ort_int8_weights"] = edge.ort_int8_weights()
    values.update(edge.zstd_file(path, int(lm.ctx.params["zstd_level"])))
    return session, values


def _version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def run(ctx: RunContext) -> dict[str, Any]:
    lm = LMRun(ctx)
    lm.device = torch.device("cpu")  # the edge profile: CPU, one thread
    fmt = str(ctx.params["format"])
    if fmt == "torch-fp32":
        values = run_base(lm)
        model = lm.load_base()
        values.update(edge_measures(lm, model, None, None))  # the scoring workload again, at one thread
        weights = [f for f in Path(values["base_model_dir"]).iterdir() if f.name.endswith(".safetensors")]
        if weights:
            values.update(edge.zstd_file(weights[0], int(ctx.params["zstd_level"]), out_dir=ctx.out_dir))
        values["format"] = fmt
        return values
    lm.encoded()
    base_result = lm.base_result()
    base = lm.load_base().eval()
    runtime = None
    if fmt.startswith("gguf-"):
        model, values = gguf_variant(lm, fmt.removeprefix("gguf-"), base)
    elif fmt == "packed-int4":
        model, values = packed_variant(lm, base)
    elif fmt == "torch-int8":
        model = int8_dynamic(copy.deepcopy(base), [n for n, _ in block_linears(base)])
        state = ctx.out_dir / "model-int8.pt"
        torch.save(model.state_dict(), state)
        values = {"model_size_bytes": edge.file_bytes(state)}
        values.update(edge.zstd_file(state, int(ctx.params["zstd_level"])))
    else:
        runtime, values = onnx_variant(lm, base, int8=fmt == "onnx-int8")
        model = base
    values.update(edge_measures(lm, model, runtime, base, latency=not fmt.startswith(("gguf-", "packed-"))))
    base_ppl = base_result.get("test_perplexity")
    values.update({"format": fmt, "base_model_size_bytes": base_result.get("model_size_bytes"),
                   "compression_ratio": (base_result.get("model_size_bytes") or 0) / values["model_size_bytes"],
                   "perplexity_vs_base": values["test_perplexity"] / base_ppl if base_ppl else None,
                   "budget_steps": base_result.get("budget_steps"), "diverged": False, "train_steps": 0})
    values.update(lm.counts(base))
    values["params_trainable"], values["trainable_share"] = 0, 0.0
    return values

