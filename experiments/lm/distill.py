"""Distillation recovery of a compressed causal LM: the uncompressed model teaches it through the
KL divergence of their next-token distributions (Hinton et al. 2015, on every position).

The compressed layers train as latent FP32 weights: a pruned weight stays zero (its gradient is
masked) and a quantized layer trains through its fake quantization (quantize-dequantize in the
forward pass, straight-through gradient), so the model trained is the model that will be stored.
After training the layers are put back in their stored form (``materialize``): the mask applied,
the weights quantized again with round-to-nearest (INT4 groups) or torch.ao's INT8 observer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .models import weight_of
from .packed import LayerFormat, set_module
from .quantize import Int4Linear, fake_int4, fake_int8, int8_codes, int8_linear, is_int8_linear, rtn_int4


class TrainLinear(nn.Module):
    """A compressed layer during training: latent weights, its mask and its fake quantization."""

    keep: torch.Tensor | None

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, keep: torch.Tensor | None,
                 fmt: LayerFormat) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().float().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().float().clone())
        self.register_buffer("keep", None if keep is None else keep.to(weight.device))
        self.fmt = fmt

    def effective_weight(self) -> torch.Tensor:
        w = self.weight if self.keep is None else self.weight * self.keep
        if self.fmt.values == "int4":
            return fake_int4(w, self.fmt.group_size, self.keep)
        if self.fmt.values == "int8":
            return fake_int8(w)
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))


def _float_weight(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(module, Int4Linear):
        return module.weight_float(), module.bias
    if is_int8_linear(module):
        # torch.ao's quantized Linear is unannotated
        q = module.weight()  # type: ignore[no-untyped-call]
        b = module.bias()  # type: ignore[no-untyped-call]
        return q.dequantize(), b
    bias = module.bias
    return weight_of(module).detach(), bias if isinstance(bias, torch.Tensor) else None


def trainable(model: nn.Module, formats: dict[str, LayerFormat], masks: dict[str, torch.Tensor],
              device: torch.device) -> nn.Module:
    """Every compressed layer replaced by a TrainLinear; every parameter trainable."""
    modules = dict(model.named_modules())
    for name, fmt in formats.items():
        w, b = _float_weight(modules[name])
        set_module(model, name, TrainLinear(w.to(device), None if b is None else b.to(device),
                                            masks.get(name), fmt).to(device))
    for p in model.parameters():
        p.requires_grad_(True)
    return model


@torch.no_grad()
def materialize(model: nn.Module, formats: dict[str, LayerFormat], masks: dict[str, torch.Tensor]) -> nn.Module:
    """Each TrainLinear back in its stored form (masked, quantized again)."""
    modules = dict(model.named_modules())
    for name, fmt in formats.items():
        layer = modules[name]
        assert isinstance(layer, TrainLinear), name
        keep = masks.get(name)
        w = layer.weight.detach().float().cpu()
        if keep is not None:
            w = w * keep.cpu()
        bias = None if layer.bias is None else layer.bias.detach().float().cpu()
        if fmt.values == "int4":
            new: nn.Module = Int4Linear(rtn_int4(w, fmt.group_size, keep), bias)
        elif fmt.values == "int8":
            codes, scale = int8_codes(w)
            new = int8_linear(codes, scale, bias)
        else:
            new = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
            new.weight.copy_(w)
            if bias is not None:
                new.bias.copy_(bias)
        set_module(model, name, new.to(layer.weight.device) if fmt.values != "int8" else new)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass
class _Out:
    loss: torch.Tensor


class Distiller(nn.Module):
    """``student(**batch).loss`` is the KL to the frozen teacher, so the harness's LM trainer
    (schedule, clipping, divergence, validation curve) trains it unchanged. T^2-scaled
    KL(teacher || student) at temperature T, averaged over the tokens of the batch."""

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float) -> None:
        super().__init__()
        self.student = student
        self.teacher = [teacher]  # a list: not a submodule, so its weights are neither trained nor counted
        self.temperature = temperature
        for p in teacher.parameters():
            p.requires_grad_(False)
        teacher.eval()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> _Out:
        t = self.temperature
        with torch.no_grad():
            target = self.teacher[0](input_ids=input_ids, attention_mask=attention_mask).logits.float()
        logits = self.student(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        keep = attention_mask.bool() if attention_mask is not None else torch.ones_like(input_ids, dtype=torch.bool)
        s = F.log_softmax(logits[keep] / t, dim=-1)
        q = F.log_softmax(target[keep] / t, dim=-1)
        kl = F.kl_div(s, q, reduction="batchmean", log_target=True) * t * t
        return _Out(kl)
