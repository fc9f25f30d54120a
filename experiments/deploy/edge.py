"""ONNX export and ONNX Runtime on an "edge" profile (one thread, batch 1), zstd on weight files.

- **export**: ``torch.onnx.export`` of a module's forward on an example input (batch and, for a
  language model, sequence length left dynamic), opset 17;
- **edge session**: ONNX Runtime's CPU provider with one intra-op and one inter-op thread,
  sequential execution, every graph optimisation; PyTorch is timed beside it with one thread;
- **INT8**: ONNX Runtime's own dynamic quantization (``quantize_dynamic``: INT8 weights of the
  MatMul/Gemm nodes, activations quantized at run time; signed weights where the CPU has VNNI,
  unsigned where not, as its documentation advises), against the lab's INT8 (torch.ao's dynamic
  quantization, also dynamic INT8 weights);
- **zstd**: a file compressed at a given level; its size and the median time to decompress it.
"""

from __future__ import annotations

import logging
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from contract.events import ResultValues

from ..harness.extras import require
from ..harness.runtime import cpu_flags

OPSET = 17
ZSTD_LEVEL = 19


class LogitsOnly(nn.Module):
    """A causal LM as input_ids -> logits (no cache; an all-ones mask: full windows, and the mask
    keeps transformers off its packed-sequence check, which the exporter cannot trace)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                          use_cache=False).logits
        return logits


class OrtModule(nn.Module):
    """An ONNX Runtime session called like the classifier it was exported from (x -> logits)."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ort_run(self.session, x)


class OrtLogits:
    """What a causal LM's forward returns, as far as the lab's scorer reads it: ``.logits``."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits


class OrtLM(nn.Module):
    """An ONNX Runtime session that the lab's scorer calls like a causal LM."""

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> OrtLogits:
        return OrtLogits(ort_run(self.session, input_ids))


def export(module: nn.Module, example: torch.Tensor, path: Path, dynamic: dict[int, str]) -> Path:
    """Write ``module`` as an ONNX model with one input ``x`` and one output ``y``."""
    require("onnx")
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": dynamic, "y": dynamic}, opset_version=OPSET, dynamo=False)
    onnx = require("onnx")
    onnx.checker.check_model(str(path))
    return path


def edge_session(path: Path, threads: int = 1) -> Any:
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def ort_run(session: Any, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(session.run(["y"], {"x": x.cpu().numpy()})[0])


def ort_int8_weights() -> str:
    """The weight type ONNX Runtime's documentation advises for this CPU: signed INT8 (its default,
    U8S8) where the CPU has VNNI; unsigned (U8U8) where it has not, since U8S8's AVX2/AVX-512
    kernels can saturate without VNNI (measured here: a 15x larger output error)."""
    vnni = {"avx512_vnni", "avx_vnni", "amx_int8"} & set(cpu_flags())
    return "QInt8" if vnni or platform.machine() not in ("x86_64", "AMD64") else "QUInt8"


def ort_int8(src: Path, dst: Path, weights: str | None = None) -> Path:
    """ONNX Runtime's dynamic INT8 quantization of ``src`` (per-tensor INT8 weights of its
    MatMul/Gemm nodes, activations quantized at run time)."""
    quant = require("onnxruntime.quantization")
    kind = getattr(quant.QuantType, weights or ort_int8_weights())
    logging.disable(logging.WARNING)  # its advice to pre-process, on the root logger, is not the run's
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant.quantize_dynamic(str(src), str(dst), weight_type=kind)
    finally:
        logging.disable(logging.NOTSET)
    return dst


class OneThread:
    """PyTorch at one intra-op thread inside the block (the edge profile), restored after."""

    def __enter__(self) -> OneThread:
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *_: object) -> None:
        torch.set_num_threads(self.before)


def interleaved_ms(runs: dict[str, Callable[[], Any]], warmup: int, reps: int) -> dict[str, float]:
    """Median milliseconds of each call, the calls timed in turn so load falls on all alike."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    for i in range(warmup + reps):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append((time.perf_counter() - t0) * 1000.0)
    return {k: statistics.median(v) for k, v in times.items()}


def zstd_file(src: Path, level: int = ZSTD_LEVEL, reps: int = 5, out_dir: Path | None = None) -> ResultValues:
    """zstd of one file (written next to it, or into ``out_dir``): bytes before and after, ratio,
    median decompression time; the decompressed bytes checked equal to the original."""
    zstd = require("zstandard")
    raw = src.read_bytes()
    packed = zstd.ZstdCompressor(level=level).compress(raw)
    dst = (out_dir or src.parent) / (src.name + ".zst")
    dst.write_bytes(packed)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        back = zstd.ZstdDecompressor().decompress(dst.read_bytes())
        times.append((time.perf_counter() - t0) * 1000.0)
    if back != raw:
        raise AssertionError(f"zstd round trip of {src} changed its bytes")
    return {"zstd_level": level, "zstd_size_bytes": len(packed), "zstd_ratio": len(raw) / len(packed),
            "zstd_decompress_ms": statistics.median(times)}


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().float() - b.detach().float()).abs().max())


def file_bytes(path: Path) -> int:
    return path.stat().st_size


def as_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()
