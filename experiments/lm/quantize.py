"""Weight quantization of a causal LM's decoder-block linear layers, in plain torch (runs on CPU).

- **int4** (weight-only, group-wise, round-to-nearest): each row is cut into groups of
  ``group_size`` consecutive inputs; a group has a scale (FP16, rounded up so the grid covers the
  group) and a zero point (0..15): w ~ (code - zero) x scale, code in 0..15. Pruned weights (a
  mask) stay exactly zero and do not widen their group's range.
- **gptq4**: the same format, the codes chosen by GPTQ (Frantar et al. 2022): columns quantized
  one at a time, each one's rounding error spread over the columns not yet quantized through the
  inverse Hessian of the layer's inputs (H = 2 X X^T over calibration tokens, 1 % damping, blocks
  of 128 columns, no act-order); a pruned weight is quantized to exactly 0 and its error spread
  the same way (as SparseGPT quantizes and prunes jointly).
- **int8**: PyTorch's dynamic quantization (``torch.ao``: per-tensor symmetric INT8 weights,
  activations quantized at run time), on the decoder-block linear layers only.

The output head (tied to the embeddings in the default model) and the embeddings are not
quantized, as in GPTQ and AWQ; ``packed`` stores them in FP16 next to the quantized weights.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    import torch.ao.nn.quantized.dynamic as nnqd

QUANTIZATIONS = ("int8", "int4", "gptq4")
INT4_LEVELS = 15  # codes 0..15


@dataclass
class Int4Weight:
    """A weight matrix (out x in) in group-wise 4-bit form."""
    codes: torch.Tensor   # uint8 (out, in), values 0..15
    scale: torch.Tensor   # float16 (out, groups)
    zero: torch.Tensor    # uint8 (out, groups), values 0..15
    group_size: int

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.codes.shape[0]), int(self.codes.shape[1])

    def group_index(self) -> torch.Tensor:
        return torch.arange(self.shape[1]) // self.group_size

    def dequantize(self) -> torch.Tensor:
        g = self.group_index().to(self.codes.device)
        scale = self.scale.float()[:, g]
        zero = self.zero.float()[:, g]
        return (self.codes.float() - zero) * scale


def _round_up_fp16(x: torch.Tensor) -> torch.Tensor:
    """The smallest FP16 values >= ``x`` (positive): a stored scale never shrinks the grid."""
    h = x.half()
    low = h.float() < x
    if bool(low.any()):
        h = torch.where(low, torch.nextafter(h, torch.full_like(h, math.inf)), h)
    return h


def group_params(w: torch.Tensor, keep: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale fp16, zero uint8) of one group of columns, per row: the range spans the kept
    weights and 0 (0 is then exactly representable: pruned weights stay zero)."""
    if keep is not None:
        lo = torch.where(keep, w, torch.zeros_like(w)).amin(dim=1)
        hi = torch.where(keep, w, torch.zeros_like(w)).amax(dim=1)
    else:
        lo, hi = w.amin(dim=1), w.amax(dim=1)
    lo, hi = lo.clamp(max=0), hi.clamp(min=0)
    span = (hi - lo).clamp_min(1e-8)
    scale = _round_up_fp16(span / INT4_LEVELS)
    zero = torch.round(-lo / scale.float()).clamp(0, INT4_LEVELS)
    return scale, zero.to(torch.uint8)


def quantize_codes(w: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """Round-to-nearest codes of ``w`` (rows x cols) with per-row ``scale`` and ``zero``."""
    s, z = scale.float()[:, None], zero.float()[:, None]
    return torch.clamp(torch.round(w / s) + z, 0, INT4_LEVELS)


def rtn_int4(weight: torch.Tensor, group_size: int, keep: torch.Tensor | None = None) -> Int4Weight:
    w = weight.detach().float().cpu()
    rows, cols = w.shape
    groups = math.ceil(cols / group_size)
    codes = torch.empty(rows, cols, dtype=torch.uint8)
    scale = torch.empty(rows, groups, dtype=torch.float16)
    zero = torch.empty(rows, groups, dtype=torch.uint8)
    for g in range(groups):
        cs = slice(g * group_size, min(cols, (g + 1) * group_size))
        k = None if keep is None else keep[:, cs].cpu()
        s, z = group_params(w[:, cs], k)
        c = quantize_codes(w[:, cs], s, z)
        if k is not None:
            c = torch.where(k, c, z.float()[:, None].expand_as(c))  # pruned: exactly zero
        codes[:, cs], scale[:, g], zero[:, g] = c.to(torch.uint8), s, z
    return Int4Weight(codes, scale, zero, group_size)


class HessianCollector:
    """H = 2/n sum x x^T of each layer's inputs over the calibration tokens (GPTQ)."""

    def __init__(self, layers: list[tuple[str, nn.Linear]]) -> None:
        self.h = {name: torch.zeros(m.in_features, m.in_features, dtype=torch.float64) for name, m in layers}
        self.n = {name: 0 for name, _ in layers}
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in layers]

    def _hook(self, name: str):  # type: ignore[no-untyped-def]
        def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], __: torch.Tensor) -> None:
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double().cpu()
            n_new = x.shape[0]
            total = self.n[name] + n_new
            self.h[name] *= self.n[name] / total
            self.h[name] += (2.0 / total) * (x.T @ x)
            self.n[name] = total
        return hook

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def gptq_int4(weight: torch.Tensor, hessian: torch.Tensor, group_size: int, keep: torch.Tensor | None = None,
              damp: float = 0.01, block: int = 128) -> Int4Weight:
    """GPTQ (Frantar et al. 2022, Algorithm 1 with lazy batch updates and groups)."""
    w_full = weight.detach().double().cpu().clone()
    rows, cols = w_full.shape
    h = hessian.double().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w_full[:, dead] = 0.0
    h += damp * torch.mean(torch.diag(h)) * torch.eye(cols, dtype=h.dtype)
    try:
        h_inv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    except RuntimeError:  # not positive definite even after damping: round to nearest instead
        return rtn_int4(weight, group_size, keep)
    groups = math.ceil(cols / group_size)
    codes = torch.empty(rows, cols, dtype=torch.uint8)
    scale = torch.empty(rows, groups, dtype=torch.float16)
    zero = torch.empty(rows, groups, dtype=torch.uint8)
    keep_cpu = keep.cpu() if keep is not None else None
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        w_block = w_full[:, i1:i2].clone()
        err_block = torch.zeros_like(w_block)
        h_inv_block = h_inv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = i1 + i
            if col % group_size == 0:
                g = col // group_size
                end = min(cols, col + group_size)
                # the group's range from its weights as updated so far (the current block's own
                # columns from w_block, later blocks' from w_full)
                span = torch.cat([w_block[:, i:], w_full[:, i2:]], dim=1)[:, :end - col].float()
                s, z = group_params(span, None if keep_cpu is None else keep_cpu[:, col:end])
                scale[:, g], zero[:, g] = s, z
            g = col // group_size
            s, z = scale[:, g], zero[:, g]
            w = w_block[:, i]
            c = quantize_codes(w[:, None].float(), s, z)[:, 0]
            if keep_cpu is not None:
                c = torch.where(keep_cpu[:, col], c, z.float())
            codes[:, col] = c.to(torch.uint8)
            q = ((c - z.float()) * s.float()).double()
            d = h_inv_block[i, i]
            err = (w - q) / d
            w_block[:, i:] -= err[:, None] @ h_inv_block[i, i:][None, :]
            err_block[:, i] = err
        w_full[:, i2:] -= err_block @ h_inv[i1:i2, i2:]
    return Int4Weight(codes, scale, zero, group_size)


class Int4Linear(nn.Module):
    """A linear layer with group-wise 4-bit weights, dequantized at every forward (weight-only
    quantization in plain torch: it saves memory and bytes on disk, not CPU time)."""

    codes: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor
    group: torch.Tensor

    def __init__(self, q: Int4Weight, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.out_features, self.in_features = q.shape
        self.group_size = q.group_size
        self.register_buffer("codes", q.codes)
        self.register_buffer("scale", q.scale)
        self.register_buffer("zero", q.zero)
        self.register_buffer("group", q.group_index())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    def int4(self) -> Int4Weight:
        return Int4Weight(self.codes, self.scale, self.zero, self.group_size)

    def weight_float(self) -> torch.Tensor:
        scale = self.scale.float()[:, self.group]
        return (self.codes.float() - self.zero.float()[:, self.group]) * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_float().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))


# -- int8: torch.ao dynamic quantization ---------------------------------------------------------

@contextmanager
def _ao() -> Iterator[None]:
    """Where torch.ao is imported and used: it is deprecated in favour of torchao, not yet removed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def int8_dynamic(model: nn.Module, names: list[str]) -> nn.Module:
    """torch.ao's dynamic INT8 quantization of the named linear layers (in place)."""
    with _ao():
        from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

        # torch's quantize_dynamic is unannotated; it returns the model it quantized in place
        quantized: nn.Module = quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {name: default_dynamic_qconfig for name in names}, dtype=torch.qint8, inplace=True)
    return quantized


def int8_codes(weight: torch.Tensor) -> tuple[torch.Tensor, float]:
    """torch.ao's per-tensor symmetric INT8 codes and scale of ``weight`` (its MinMax observer)."""
    with _ao():
        from torch.ao.quantization import default_dynamic_qconfig
    observer = default_dynamic_qconfig.weight()
    w = weight.detach().float().cpu()
    observer(w)
    scale, zero = observer.calculate_qparams()
    q = torch.quantize_per_tensor(w, float(scale), int(zero), torch.qint8)
    return q.int_repr(), float(scale)


def int8_linear(codes: torch.Tensor, scale: float, bias: torch.Tensor | None) -> nn.Module:
    """A torch.ao dynamic quantized linear layer holding exactly these INT8 codes."""
    with _ao():
        import torch.ao.nn.quantized.dynamic as nnqd
    out_f, in_f = codes.shape
    layer = nnqd.Linear(in_f, out_f, bias_=bias is not None, dtype=torch.qint8)  # type: ignore[no-untyped-call]  # torch.ao's quantized Linear is unannotated
    q = torch._make_per_tensor_quantized_tensor(codes.to(torch.int8), scale, 0)
    layer.set_weight_bias(q, None if bias is None else bias.detach().float())
    return layer


def is_int8_linear(module: nn.Module) -> TypeGuard[nnqd.Linear]:
    with _ao():
        import torch.ao.nn.quantized.dynamic as nnqd
    return isinstance(module, nnqd.Linear)


def int8_weight(module: nnqd.Linear) -> tuple[torch.Tensor, float]:
    q = module.weight()  # type: ignore[no-untyped-call]  # torch.ao's quantized Linear is unannotated
    return q.int_repr(), float(q.q_scale())


# -- fake quantization for training (distillation of a quantized model) -------------------------

def fake_int4(w: torch.Tensor, group_size: int, keep: torch.Tensor | None) -> torch.Tensor:
    """Quantize-dequantize with round-to-nearest group-wise INT4; the straight-through estimator
    passes the gradient to ``w`` unchanged."""
    rows, cols = w.shape
    pad = (-cols) % group_size
    x = F.pad(w, (0, pad)) if pad else w
    k = None
    if keep is not None:
        k = F.pad(keep, (0, pad), value=False) if pad else keep
    xg = x.reshape(rows, -1, group_size)
    with torch.no_grad():
        src = xg if k is None else torch.where(k.reshape(rows, -1, group_size), xg, torch.zeros_like(xg))
        lo = src.amin(dim=2, keepdim=True).clamp(max=0)
        hi = src.amax(dim=2, keepdim=True).clamp(min=0)
        scale = _round_up_fp16((hi - lo).clamp_min(1e-8) / INT4_LEVELS).float()
        zero = torch.round(-lo / scale).clamp(0, INT4_LEVELS)
        q = (torch.clamp(torch.round(xg / scale) + zero, 0, INT4_LEVELS) - zero) * scale
    out = xg + (q - xg).detach()
    return out.reshape(rows, -1)[:, :cols]


def fake_int8(w: torch.Tensor) -> torch.Tensor:
    """Per-tensor symmetric INT8 quantize-dequantize (torch.ao's weight scheme), straight-through."""
    with torch.no_grad():
        scale = (w.abs().max() / 127.5).clamp_min(1e-12)
        q = torch.clamp(torch.round(w / scale), -128, 127) * scale
    return w + (q - w).detach()
