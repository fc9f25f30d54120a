"""Static and inference measurements: parameters, size, FLOPs, latency, memory, accuracy."""

from __future__ import annotations

import gc
import io
import resource
import statistics
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype inputs must have: that of the first floating parameter (fp32 when none, e.g. int8)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def param_counts(model: nn.Module) -> dict[str, int]:
    params = list(model.parameters())
    return {"params_total": sum(p.numel() for p in params),
            "params_trainable": sum(p.numel() for p in params if p.requires_grad),
            "params_nonzero": int(sum(int(torch.count_nonzero(p.detach())) for p in params))}


def serialized_size(model: nn.Module, sparse: bool = False) -> int:
    """Bytes of ``torch.save(state_dict)``; with ``sparse`` every weight matrix that is smaller in
    CSR form is stored that way (how unstructured sparsity would be shipped)."""
    state = model.state_dict()
    if sparse:
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        packed = {}
        for k, t in state.items():
            if isinstance(t, torch.Tensor) and t.dim() >= 2 and t.layout == torch.strided and t.is_floating_point():
                csr = t.detach().reshape(t.shape[0], -1).to_sparse_csr()
                # int32 indices (enough below 2**31 non-zeros): 8 bytes per fp32 non-zero
                csr = torch.sparse_csr_tensor(csr.crow_indices().int(), csr.col_indices().int(),
                                              csr.values(), csr.shape, check_invariants=False)
                dense_bytes = t.numel() * t.element_size()
                csr_bytes = sum(x.numel() * x.element_size() for x in
                                (csr.values(), csr.col_indices(), csr.crow_indices()))
                packed[k] = csr if csr_bytes < dense_bytes else t
            else:
                packed[k] = t
        state = packed
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.tell()


def flops_per_forward(model: nn.Module, sample: torch.Tensor) -> int | None:
    """FLOPs of one forward pass of one sample, by torch.utils.flop_counter (None if it fails).

    Scaled dot-product attention is counted on PyTorch's math path: the fused CPU kernel is
    invisible to the counter (it would count 0 FLOPs for softmax attention)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter:
            model(sample[:1])
        return int(counter.get_total_flops())
    except Exception:
        return None
    finally:
        model.train(was_training)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def latency_ms(model: nn.Module, batch: torch.Tensor, warmup: int, reps: int) -> float:
    """Median wall time of ``reps`` forward passes after ``warmup`` untimed ones, in ms."""
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + reps):
            _sync(batch.device)
            t0 = time.perf_counter()
            model(batch)
            _sync(batch.device)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def interleaved_latency_ms(models: list[nn.Module], batches: list[torch.Tensor], warmup: int,
                           reps: int) -> list[float]:
    """Median latency of each model, timed in alternation in this process (ABAB..., the order
    flipped every repetition), so drifts of the machine hit every model alike."""
    for m in models:
        m.eval()
    times: list[list[float]] = [[] for _ in models]
    order = list(range(len(models)))
    with torch.inference_mode():
        for i in range(warmup + reps):
            for j in (order if i % 2 == 0 else order[::-1]):
                _sync(batches[j].device)
                t0 = time.perf_counter()
                models[j](batches[j])
                _sync(batches[j].device)
                if i >= warmup:
                    times[j].append((time.perf_counter() - t0) * 1000.0)
    return [statistics.median(t) for t in times]


def sustained_inference(model: nn.Module, batch: torch.Tensor, min_seconds: float) -> tuple[int, float]:
    """Forward passes of ``batch`` until ``min_seconds`` have passed: (samples, seconds)."""
    model.eval()
    samples, start = 0, time.perf_counter()
    with torch.inference_mode():
        while True:
            model(batch)
            samples += len(batch)
            _sync(batch.device)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                return samples, elapsed


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> tuple[float, float]:
    """(accuracy, mean cross-entropy in nats); inputs are cast to the model's dtype."""
    model.eval()
    dtype = model_dtype(model)
    correct, loss_sum = 0, 0.0
    for i in range(0, len(y), batch_size):
        logits = model(x[i:i + batch_size].to(dtype)).float()
        yb = y[i:i + batch_size]
        loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    n = max(1, len(y))
    return correct / n, loss_sum / n


class PeakMemory:
    """Peak memory of a phase: the CUDA allocator on GPU, the process's peak RSS on CPU.

    On Linux writing "5" to /proc/self/clear_refs resets the RSS high-water mark (VmHWM), so the
    CPU peak is that of the phase (it still includes the interpreter and torch themselves)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass

    def read(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


class _CastRecorder(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's __init_subclass__ is unannotated
    """Records the storages autocast creates when it casts a parameter (``aten._to_copy`` of a
    parameter): weight copies, not activations."""

    def __init__(self, param_keys: set[int]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch's TorchDispatchMode.__init__ is unannotated
        self.param_keys = param_keys
        self.cast_keys: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        if (func is torch.ops.aten._to_copy.default and args and isinstance(args[0], torch.Tensor)
                and _storage_key(args[0]) in self.param_keys and isinstance(out, torch.Tensor)):
            self.cast_keys.add(_storage_key(out))
        return out


def _autocast(device: torch.device, precision: str) -> Any:
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16,
                          enabled=precision in ("bf16", "fp16"))


def activation_bytes(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor,
                     loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                     precision: str = "fp32") -> int:
    """Bytes of the tensors autograd saves for backward in one training forward pass: each
    storage counted once, by its own bytes, leaving out the parameters, the input batch
    (``xb``/``yb`` and whatever they are views of: data, not activations) and the copies of the
    weights that autocast makes (``precision`` "bf16"/"fp16" runs the pass under autocast)."""
    param_keys = {_storage_key(p) for p in model.parameters()}
    excluded = param_keys | {_storage_key(xb), _storage_key(yb)}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if key not in excluded:
            seen[key] = t.untyped_storage().nbytes()
        return t

    model.train()
    casts = _CastRecorder(param_keys)
    with _autocast(xb.device, precision), casts, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(xb)
        loss = (loss_fn or F.cross_entropy)(out.float(), yb)
    torch.autograd.backward(loss)
    model.zero_grad(set_to_none=True)
    return int(sum(n for key, n in seen.items() if key not in casts.cast_keys))


class _LiveBytes(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's __init_subclass__ is unannotated
    """Live bytes of the storages allocated under this mode (outputs that alias an input, i.e.
    views and in-place results, are not new), and their peak. Storages keep their Python object
    while they live, so a finalizer on it sees the free."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch's TorchDispatchMode.__init__ is unannotated
        self.live = self.peak = 0
        self._tracked: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self._tracked.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        inputs = {id(a.untyped_storage()) for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)}
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key = id(storage)
            if key in self._tracked or key in inputs:
                continue
            nbytes = storage.nbytes()
            self._tracked.add(key)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._free, key, nbytes)
        return out


def step_peak_bytes(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                    precision: str = "fp32") -> int:
    """Peak bytes allocated during one training step (forward and backward, recomputation of
    checkpointed segments included), above what existed before it. Parameter gradients are
    allocated by a first, unmeasured step, so the peak is that of activations and temporaries,
    not of the gradients every variant holds alike."""
    model.train()
    fn = loss_fn or F.cross_entropy
    with _autocast(xb.device, precision):
        out = model(xb)
    torch.autograd.backward(fn(out.float(), yb))
    del out
    gc.collect()
    tracker = _LiveBytes()
    with tracker:
        with _autocast(xb.device, precision):
            out = model(xb)
        torch.autograd.backward(fn(out.float(), yb))
        del out
    model.zero_grad(set_to_none=True)
    return int(tracker.peak)


def tensor_bytes(obj: Any) -> int:
    """Bytes of all tensors inside a (nested) state dict, e.g. an optimizer's state."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def as_tensors(x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
