"""AWQ (Lin et al. 2023): activation-aware weight quantization, then group-wise 4-bit.

A few input channels of a linear layer carry much larger activations than the rest; their weights
matter most. AWQ multiplies those weight columns by a per-channel scale s > 1 before rounding and
divides the activations by s (folded into the operation before the layer, so inference costs
nothing more): Q(W diag(s)) diag(s)^-1 x rounds the salient weights on a relatively finer grid.

Follows the reference code (github.com/mit-han-lab/llm-awq, ``awq/quantize/auto_scale.py``,
``auto_clip.py``, ``pre_quant.py``), block by block:

1. **scale search**: s = mean|x|^alpha per input channel (over the calibration tokens),
   normalised by sqrt(max(s) min(s)), alpha on a grid of 20 in [0, 1); the alpha whose
   pseudo-quantized layers give the lowest mean squared error of the inspected module's output
   wins (alpha = 0 is plain round-to-nearest, so the search never does worse on its data). For a
   Llama block, four groups: q/k/v after the input norm (inspecting the whole attention),
   o_proj after v_proj (when their shapes match), gate/up after the post-attention norm
   (inspecting the MLP), down_proj after up_proj;
2. **fold**: the norm's weight (or the previous layer's rows) divided by s, the layers' columns
   multiplied by s: the model computes the same function before quantization;
3. **clip search**: per output row and group, the clipping range max|w| x (1 - i/20), i < 10,
   with the lowest error of that group's partial output on 512 calibration tokens (not for q/k,
   whose error passes through softmax);
4. **round**: group-wise INT4 round-to-nearest (``quantize.rtn_int4``: the lab's format, FP16 scale
   and zero point per group).

Every block is searched on its inputs through the blocks before it unquantized (scaling keeps the
function, clipping is applied after all blocks, as the reference computes every block's inputs
before it clips). The quantizer in the searches is the lab's INT4 grid (0 always representable, so
pruned weights stay zero), not the reference's min-max grid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..harness.errors import ExperimentError
from .quantize import Int4Weight, fake_int4, rtn_int4
from .sparsity import decoder_blocks, run_calibration

GRID = 20             # scale ratios alpha = 0, 1/20, ... 19/20 (the reference's n_grid)
CLIP_GRID = 20        # clipping steps of 1/20 of the range ...
CLIP_SHRINK = 0.5     # ... down to half of it (the reference's max_shrink)
CLIP_TOKENS = 512     # calibration tokens of the clip search (the reference's n_sample_token)
NO_CLIP = ("q_proj", "k_proj")  # their error passes through softmax (the reference skips them)


@dataclass(frozen=True)
class ScaleGroup:
    """Layers sharing one input, the operation whose output that input is, and the module whose
    output the scale search compares (names relative to the decoder block)."""
    prev: str
    layers: tuple[str, ...]
    inspect: str


LLAMA_GROUPS = (
    ScaleGroup("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), "self_attn"),
    ScaleGroup("self_attn.v_proj", ("self_attn.o_proj",), "self_attn.o_proj"),
    ScaleGroup("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj"), "mlp"),
    ScaleGroup("mlp.up_proj", ("mlp.down_proj",), "mlp.down_proj"),
)


def act_scale(x: torch.Tensor) -> torch.Tensor:
    """Mean |x| of each input channel over all tokens (the reference's get_act_scale)."""
    return x.abs().reshape(-1, x.shape[-1]).float().mean(0)


def scales_for(x_mean: torch.Tensor, ratio: float) -> torch.Tensor:
    s = x_mean.pow(ratio).clamp(min=1e-4)
    return s / (s.max() * s.min()).sqrt()


def pseudo_int4(w: torch.Tensor, group: int, keep: torch.Tensor | None) -> torch.Tensor:
    """Quantize-dequantize on the lab's INT4 grid (what ``rtn_int4`` stores)."""
    with torch.no_grad():
        return fake_int4(w.float(), group, keep).to(w.dtype)


@torch.no_grad()
def search_scale(forward: Callable[[], torch.Tensor], layers: list[nn.Linear], x_mean: torch.Tensor, group: int,
                 keeps: list[torch.Tensor | None]) -> tuple[torch.Tensor, float, list[float]]:
    """(best scales, their alpha, the loss of every alpha): ``forward()`` gives the inspected
    module's outputs on the calibration inputs with the layers' current weights."""
    original = forward()
    saved = [m.weight.detach().clone() for m in layers]
    losses: list[float] = []
    best: tuple[float, float, torch.Tensor] | None = None
    try:
        for step in range(GRID):
            ratio = step / GRID
            s = scales_for(x_mean, ratio).to(saved[0].device)
            for m, w, keep in zip(layers, saved, keeps):
                m.weight.copy_(pseudo_int4(w * s[None, :], group, keep) / s[None, :])
            loss = float((original - forward()).float().pow(2).mean())
            losses.append(loss)
            if best is None or loss < best[0]:
                best = (loss, ratio, s.clone())
    finally:
        for m, w in zip(layers, saved):
            m.weight.copy_(w)
    assert best is not None
    return best[2], best[1], losses


@torch.no_grad()
def fold_scale(prev: nn.Module, layers: list[nn.Linear], s: torch.Tensor) -> None:
    """Divide the output channels of ``prev`` by s and multiply the layers' input columns by s:
    the same function, with the salient channels' weights enlarged before rounding."""
    if isinstance(prev, nn.Linear):
        prev.weight.div_(s[:, None].to(prev.weight))
        if prev.bias is not None:
            prev.bias.div_(s.to(prev.bias))
    else:  # a norm: its elementwise weight (and bias) scale its output channels
        weight = getattr(prev, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ExperimentError(f"awq4: cannot fold a scale into a {type(prev).__name__}")
        weight.div_(s.to(weight))
        bias = getattr(prev, "bias", None)
        if isinstance(bias, torch.Tensor):
            bias.div_(s.to(bias))
    for m in layers:
        m.weight.mul_(s[None, :].to(m.weight))


@torch.no_grad()
def search_clip(w: torch.Tensor, x: torch.Tensor, group: int, keep: torch.Tensor | None,
                rows_per_batch: int = 64) -> torch.Tensor:
    """Per row and group, the clipping bound max|w| x (1 - i/CLIP_GRID) whose pseudo-quantized
    group gives the lowest mean squared error of its partial output sum_j x_j w_j over the tokens
    (the reference's auto_clip_layer). Returns (rows, groups) bounds."""
    rows, cols = w.shape
    pad = (-cols) % group
    xs = x.reshape(-1, cols).float()
    xs = xs[::max(1, xs.shape[0] // CLIP_TOKENS)]
    xs = F.pad(xs, (0, pad)).view(xs.shape[0], -1, group)          # tokens, groups, group
    out = []
    for r0 in range(0, rows, rows_per_batch):
        wb = F.pad(w[r0:r0 + rows_per_batch].float(), (0, pad))
        kb = None if keep is None else F.pad(keep[r0:r0 + rows_per_batch], (0, pad), value=False)
        wg = wb.view(wb.shape[0], -1, group)
        original = torch.einsum("tgs,rgs->rtg", xs, wg)
        top = wg.abs().amax(dim=2, keepdim=True)                   # rows, groups, 1
        best_err = torch.full(top.shape[:2], float("inf"))
        best = top[..., 0].clone()
        for step in range(int(CLIP_SHRINK * CLIP_GRID)):
            bound = top * (1 - step / CLIP_GRID)
            q = pseudo_int4(torch.maximum(torch.minimum(wg, bound), -bound).reshape(wb.shape), group, kb)
            err = (torch.einsum("tgs,rgs->rtg", xs, q.view_as(wg)) - original).pow(2).mean(dim=1)
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best = torch.where(better, bound[..., 0], best)
        out.append(best)
    return torch.cat(out)


def apply_clip(weight: torch.Tensor, bound: torch.Tensor, group: int) -> None:
    cols = weight.shape[1]
    b = bound.repeat_interleave(group, dim=1)[:, :cols].to(weight)
    weight.copy_(torch.maximum(torch.minimum(weight, b), -b))


class _Capture:
    """Inputs of the inspected modules (args and kwargs of every call) and of the linear layers
    of one block, over the calibration batches."""

    def __init__(self, block: nn.Module, groups: tuple[ScaleGroup, ...]) -> None:
        self.calls: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}
        self.inputs: dict[str, list[torch.Tensor]] = {}
        self.handles = []
        modules = dict(block.named_modules())
        for g in groups:
            self.calls.setdefault(g.inspect, [])
            self.handles.append(modules[g.inspect].register_forward_pre_hook(self._call(g.inspect), with_kwargs=True))
            for name in g.layers:
                self.inputs.setdefault(name, [])
                self.handles.append(modules[name].register_forward_pre_hook(self._input(name)))

    def _call(self, name: str) -> Callable[..., None]:
        def hook(_: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            self.calls[name].append((_detach(args), _detach(kwargs)))
        return hook

    def _input(self, name: str) -> Callable[..., None]:
        def hook(_: nn.Module, args: tuple[Any, ...]) -> None:
            self.inputs[name].append(args[0].detach().clone())
        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _detach(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_detach(v) for v in value)
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value


def _outputs(module: nn.Module, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> torch.Tensor:
    outs = []
    for args, kwargs in calls:
        out = module(*args, **kwargs)
        outs.append((out[0] if isinstance(out, tuple) else out).reshape(-1))
    return torch.cat(outs)


def block_groups(block: nn.Module) -> tuple[ScaleGroup, ...]:
    """The scale groups of a Llama-style block (o_proj only when v_proj's output feeds it one to
    one: not with grouped-query attention, as in the reference)."""
    modules = dict(block.named_modules())
    needed = {n for g in LLAMA_GROUPS for n in (g.prev, g.inspect, *g.layers)}
    if not needed <= set(modules):
        raise ExperimentError("awq4 supports Llama-style decoder blocks (input_layernorm, self_attn.q/k/v/o_proj, "
                              "post_attention_layernorm, mlp.gate/up/down_proj); this model's blocks have "
                              f"{', '.join(sorted(n for n in modules if n)[:8])}...; use int4 or gptq4")
    v, o = modules["self_attn.v_proj"], modules["self_attn.o_proj"]
    return tuple(g for g in LLAMA_GROUPS
                 if g.prev != "self_attn.v_proj" or v.weight.shape == o.weight.shape)


@dataclass
class AWQReport:
    """What the search chose, for the run's result."""
    ratios: dict[str, float]
    rtn_loss: dict[str, float]      # the inspected output's MSE at alpha = 0 (round-to-nearest)
    awq_loss: dict[str, float]      # ... at the chosen alpha


@torch.no_grad()
def awq_int4(model: nn.Module, masks: dict[str, torch.Tensor], calibration: list[torch.Tensor], group: int,
             device: torch.device) -> tuple[dict[str, Int4Weight], AWQReport]:
    """Scale and clip every decoder block of ``model`` in place (the norms and previous layers
    absorb the scales) and return the INT4 weights of its block linear layers."""
    report = AWQReport({}, {}, {})
    clips: dict[str, torch.Tensor] = {}
    named = dict(model.named_modules())
    for index, layers in decoder_blocks(model):
        prefix = re.sub(r"^(.*?\.\d+)\..*$", r"\1", layers[0][0])
        block = named[prefix]
        groups = block_groups(block)
        capture = _Capture(block, groups)
        try:
            run_calibration(model, calibration, device, upto_block=index)
        finally:
            capture.close()
        sub = dict(block.named_modules())
        for g in groups:
            linears = [sub[n] for n in g.layers]
            keeps = [masks.get(f"{prefix}.{n}") for n in g.layers]
            keeps = [None if k is None else k.to(linears[0].weight.device) for k in keeps]
            x = torch.cat([t.reshape(-1, t.shape[-1]) for t in capture.inputs[g.layers[0]]])
            inspect = sub[g.inspect]
            s, ratio, losses = search_scale(partial(_outputs, inspect, capture.calls[g.inspect]),
                                            linears, act_scale(x), group, keeps)
            fold_scale(sub[g.prev], linears, s)
            key = f"{prefix}.{g.prev}"
            report.ratios[key], report.rtn_loss[key], report.awq_loss[key] = ratio, losses[0], min(losses)
            for n in g.layers:
                capture.inputs[n] = [t / s.to(t) for t in capture.inputs[n]]
        for g in groups:
            for n in g.layers:
                if n.rsplit(".", 1)[-1] in NO_CLIP:
                    continue
                full = f"{prefix}.{n}"
                x = torch.cat([t.reshape(-1, t.shape[-1]) for t in capture.inputs[n]]).cpu()
                keep = masks.get(full)
                clips[full] = search_clip(sub[n].weight.detach().cpu(), x, group, None if keep is None else keep.cpu())
    out: dict[str, Int4Weight] = {}
    for _, layers in decoder_blocks(model):
        for name, module in layers:
            if name in clips:
                apply_clip(module.weight, clips[name], group)
            out[name] = rtn_int4(module.weight, group, masks.get(name))
    return out, report
