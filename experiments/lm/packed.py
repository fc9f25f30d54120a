"""A compressed causal LM on disk, in its real packed bytes, and back.

A folder holds the model's ``config.json`` (to rebuild the architecture), ``compression.json``
(what each decoder-block linear layer holds) and ``compressed.safetensors`` with, per layer:

- **sparsity pattern**: dense; ``mask`` (unstructured: one bit per weight, then only the kept
  values, row-major); ``nm`` (N:M: the kept values of each group of M and their positions,
  2 bits each for 2:4, packed four to a byte);
- **values**: fp32; int8 (torch.ao's per-tensor symmetric codes and scale); int4 (two codes per
  byte, an FP16 scale and a uint8 zero point per group of ``group_size`` inputs of a row).

Everything else (embeddings, the output head when untied, norms, biases) is stored in FP32, or in
FP16 once the layers are quantized (as GPTQ and AWQ keep them in 16 bits). The size on disk is
what these files take; nothing is counted twice (tied weights are stored once).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.pytorch_utils import Conv1D

from contract.jsonvalue import JsonObject, JsonValue
from contract.zoo import PackedForm

from ..harness.errors import ExperimentError
from .models import block_linears, config_of, weight_of
from .quantize import Int4Linear, Int4Weight, int8_codes, int8_linear, int8_weight, is_int8_linear
from .sparsity import nm_of

WEIGHTS = "compressed.safetensors"
MANIFEST = "compression.json"
FORMAT_VERSION = 1
PACKED_FILES = (WEIGHTS, MANIFEST, "config.json")


@dataclass(frozen=True)
class LayerFormat:
    pattern: str          # "dense", "unstructured" or "N:M"
    values: str           # "fp32", "int8" or "int4"
    group_size: int = 0   # int4 only

    def to_json(self) -> JsonObject:
        return {"pattern": self.pattern, "values": self.values, "group_size": self.group_size}


# -- bit packing ------------------------------------------------------------------------------

def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    flat = mask.flatten().to(torch.uint8)
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, torch.zeros(pad, dtype=torch.uint8)])
    weights = (2 ** torch.arange(8, dtype=torch.uint8))
    return (flat.view(-1, 8) * weights).sum(1).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, count: int) -> torch.Tensor:
    bits = (packed[:, None] >> torch.arange(8, dtype=torch.uint8)) & 1
    return bits.flatten()[:count].bool()


def pack_nibbles(codes: torch.Tensor) -> torch.Tensor:
    """Values 0..15, two per byte (the first in the low nibble)."""
    flat = codes.flatten().to(torch.uint8)
    if flat.numel() % 2:
        flat = torch.cat([flat, torch.zeros(1, dtype=torch.uint8)])
    pairs = flat.view(-1, 2)
    return (pairs[:, 0] | (pairs[:, 1] << 4)).to(torch.uint8)


def unpack_nibbles(packed: torch.Tensor, count: int) -> torch.Tensor:
    out = torch.stack([packed & 0x0F, packed >> 4], dim=1).flatten()
    return out[:count]


def pack_crumbs(values: torch.Tensor) -> torch.Tensor:
    """Values 0..3, four per byte."""
    flat = values.flatten().to(torch.uint8)
    pad = (-flat.numel()) % 4
    if pad:
        flat = torch.cat([flat, torch.zeros(pad, dtype=torch.uint8)])
    q = flat.view(-1, 4)
    return (q[:, 0] | (q[:, 1] << 2) | (q[:, 2] << 4) | (q[:, 3] << 6)).to(torch.uint8)


def unpack_crumbs(packed: torch.Tensor, count: int) -> torch.Tensor:
    out = torch.stack([(packed >> s) & 3 for s in (0, 2, 4, 6)], dim=1).flatten()
    return out[:count]


# -- sparsity patterns --------------------------------------------------------------------------

def _nm_positions(keep: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """(rows, groups, n) positions within each group of the kept entries (ascending; a group with
    fewer than n kept entries repeats a pruned position whose stored value is 0)."""
    rows, cols = keep.shape
    pad = (-cols) % m
    k = torch.cat([keep, torch.zeros(rows, pad, dtype=torch.bool)], dim=1) if pad else keep
    g = k.view(rows, -1, m).to(torch.int8)
    if bool((g.sum(-1) > n).any()):
        raise ValueError(f"a group holds more than {n} of {m} non-zeros: not an {n}:{m} pattern")
    # kept entries first (stable), then pruned ones: the first n positions
    order = torch.sort(-g, dim=-1, stable=True).indices[..., :n]
    return torch.sort(order, dim=-1).values


def _split(pattern: str, keep: torch.Tensor | None, dense: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """(index tensors of the pattern, the values kept in storage order) for a dense matrix."""
    if pattern == "dense" or keep is None:
        return {}, dense.flatten()
    if pattern == "unstructured":
        return {"mask": pack_bits(keep)}, dense.flatten()[keep.flatten()]
    n, m = nm_of(pattern)  # type: ignore[misc]
    pos = _nm_positions(keep, n, m)
    rows, cols = dense.shape
    pad = (-cols) % m
    d = torch.cat([dense, torch.zeros(rows, pad, dtype=dense.dtype)], dim=1) if pad else dense
    vals = torch.gather(d.view(rows, -1, m), 2, pos.long())
    return {"nm_index": pack_crumbs(pos) if m <= 4 else pos.to(torch.uint8)}, vals.flatten()


def _positions(pattern: str, tensors: dict[str, torch.Tensor], shape: tuple[int, int]) -> torch.Tensor | None:
    """Flat indices (into the dense matrix) of the stored values, in storage order."""
    rows, cols = shape
    if pattern == "dense":
        return None
    if pattern == "unstructured":
        return torch.nonzero(unpack_bits(tensors["mask"], rows * cols)).flatten()
    n, m = nm_of(pattern)  # type: ignore[misc]
    groups = math.ceil(cols / m)
    count = rows * groups * n
    pos = unpack_crumbs(tensors["nm_index"], count) if m <= 4 else tensors["nm_index"].flatten()
    pos = pos.view(rows, groups, n).long()
    col = pos + (torch.arange(groups) * m)[None, :, None]
    idx = torch.arange(rows)[:, None, None] * cols + col
    valid = col < cols
    return torch.where(valid, idx, torch.full_like(idx, -1)).flatten()


def _scatter(values: torch.Tensor, pos: torch.Tensor | None, shape: tuple[int, int], fill: float = 0.0) -> torch.Tensor:
    if pos is None:
        return values.reshape(shape)
    out = torch.full((shape[0] * shape[1],), fill, dtype=values.dtype)
    ok = pos >= 0
    out[pos[ok]] = values[ok]
    return out.view(shape)


# -- one layer -------------------------------------------------------------------------------

def encode_layer(name: str, module: nn.Module, fmt: LayerFormat, keep: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The tensors stored for one compressed layer."""
    out: dict[str, torch.Tensor] = {}
    bias = getattr(module, "bias", None)
    if callable(bias):  # torch.ao's dynamic Linear: bias() is a method
        bias = bias()
    if isinstance(bias, torch.Tensor):
        out[f"{name}.bias"] = bias.detach().float().cpu().contiguous()
    if fmt.values == "int4":
        if not isinstance(module, Int4Linear):
            raise ValueError(f"{name}: int4 format of a {type(module).__name__}")
        q = module.int4()
        index, codes = _split(fmt.pattern, keep, q.codes)
        out[f"{name}.codes"] = pack_nibbles(codes)
        out[f"{name}.scale"] = q.scale.contiguous()
        out[f"{name}.zero"] = q.zero.contiguous()
    elif fmt.values == "int8":
        codes8, scale = int8_weight(module) if is_int8_linear(module) else int8_codes(weight_of(module))
        index, codes = _split(fmt.pattern, keep, codes8)
        out[f"{name}.codes"] = codes.to(torch.int8).contiguous()
        out[f"{name}.scale"] = torch.tensor([scale], dtype=torch.float32)
    else:
        index, vals = _split(fmt.pattern, keep, weight_of(module).detach().float().cpu())
        out[f"{name}.values"] = vals.contiguous()
    for key, t in index.items():
        out[f"{name}.{key}"] = t.contiguous()
    return out


def decode_layer(name: str, tensors: dict[str, torch.Tensor], fmt: LayerFormat, shape: tuple[int, int]
                 ) -> tuple[nn.Module, torch.Tensor | None]:
    """The runtime module of a stored layer and its keep-mask (None when dense)."""
    pos = _positions(fmt.pattern, {k.removeprefix(f"{name}."): v for k, v in tensors.items()
                                   if k.startswith(f"{name}.")}, shape)
    keep = None
    if pos is not None:
        keep = torch.zeros(shape[0] * shape[1], dtype=torch.bool)
        keep[pos[pos >= 0]] = True
        keep = keep.view(shape)
    bias = tensors.get(f"{name}.bias")
    if fmt.values == "int4":
        scale, zero = tensors[f"{name}.scale"], tensors[f"{name}.zero"]
        count = shape[0] * shape[1] if pos is None else pos.numel()
        codes = unpack_nibbles(tensors[f"{name}.codes"], count)
        group = torch.arange(shape[1]) // fmt.group_size
        dense_zero = zero[:, group].flatten()  # a pruned weight's code is its group's zero: exactly 0
        full = dense_zero.clone() if pos is not None else None
        if full is not None and pos is not None:
            ok = pos >= 0
            full[pos[ok]] = codes[ok]
            codes = full
        q = Int4Weight(codes.view(shape).to(torch.uint8), scale, zero, fmt.group_size)
        return Int4Linear(q, bias), keep
    if fmt.values == "int8":
        codes = _scatter(tensors[f"{name}.codes"], pos, shape)
        return int8_linear(codes, float(tensors[f"{name}.scale"][0]), bias), keep
    weight = _scatter(tensors[f"{name}.values"], pos, shape)
    layer = nn.Linear(shape[1], shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer, keep


# -- the model -------------------------------------------------------------------------------

def as_linear_blocks(model: nn.Module) -> nn.Module:
    """GPT-2's Conv1D layers inside decoder blocks replaced by the equivalent nn.Linear (same
    function), so every compressed layer is an nn.Linear (out x in)."""
    for name, module in block_linears(model):
        if isinstance(module, Conv1D):
            d_in, d_out = module.weight.shape
            lin = nn.Linear(d_in, d_out, bias=True)
            with torch.no_grad():
                lin.weight.copy_(module.weight.T)
                lin.bias.copy_(module.bias)
            set_module(model, name, lin.to(module.weight.device))
    return model


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _other_tensors(model: nn.Module, compressed: set[str], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Every parameter and buffer outside the compressed layers, tied tensors once."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, t in model.state_dict(keep_vars=False).items():
        owner = key.rsplit(".", 1)[0]
        if owner in compressed or any(key.startswith(c + ".") for c in compressed):
            continue
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            continue
        if "rotary_emb" in key:  # recomputed from the config
            continue
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen:
            continue
        seen.add(ptr)
        out[key] = t.detach().to("cpu", dtype).contiguous()
    return out


def save(model: nn.Module, folder: Path, formats: dict[str, LayerFormat], masks: dict[str, torch.Tensor],
         extra: Mapping[str, JsonValue] | None = None) -> int:
    """Write ``model`` into ``folder``; returns the bytes on disk of the packed files."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    shapes: dict[str, list[int]] = {}
    modules = dict(model.named_modules())
    for name, fmt in formats.items():
        module = modules[name]
        shape = _shape(module)
        shapes[name] = list(shape)
        tensors.update(encode_layer(name, module, fmt, masks.get(name)))
    quantized = any(f.values != "fp32" for f in formats.values())
    tensors.update(_other_tensors(model, set(formats), torch.float16 if quantized else torch.float32))
    save_file(tensors, str(folder / WEIGHTS))
    config_of(model).save_pretrained(str(folder))
    manifest = {"format": FORMAT_VERSION, "layers": {n: {**f.to_json(), "shape": shapes[n]} for n, f in formats.items()},
                "other_dtype": "float16" if quantized else "float32", **(extra or {})}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return size_on_disk(folder)


def _shape(module: nn.Module) -> tuple[int, int]:
    if isinstance(module, Int4Linear):
        return module.out_features, module.in_features
    if is_int8_linear(module):
        q = module.weight()  # type: ignore[no-untyped-call]  # torch.ao's quantized Linear is unannotated
        return int(q.shape[0]), int(q.shape[1])
    return int(weight_of(module).shape[0]), int(weight_of(module).shape[1])


def size_on_disk(folder: Path) -> int:
    return sum((folder / f).stat().st_size for f in PACKED_FILES if (folder / f).is_file())


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"compressed model {folder}: {MANIFEST} cannot be read ({exc})") from None
    if data.get("format") != FORMAT_VERSION:
        raise ExperimentError(f"compressed model {folder}: format {data.get('format')} is not {FORMAT_VERSION}")
    return data


def load(folder: Path, device: torch.device) -> tuple[nn.Module, dict[str, LayerFormat], dict[str, torch.Tensor], dict[str, Any]]:
    """(model, formats, keep-masks, manifest) of a compressed folder; int8 layers run on CPU."""
    manifest = read_manifest(folder)
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]  # transformers' from_config is unannotated
    as_linear_blocks(model)
    tensors = load_file(str(folder / WEIGHTS))
    # the other tensors first: torch.ao's quantized layers refuse a state dict without their keys
    others = {k: v.float() for k, v in tensors.items() if k.rsplit(".", 1)[0] not in manifest["layers"]}
    _, unexpected = model.load_state_dict(others, strict=False)
    if unexpected:
        raise ExperimentError(f"compressed model {folder}: unexpected tensors {unexpected[:3]}")
    model.tie_weights()
    formats: dict[str, LayerFormat] = {}
    masks: dict[str, torch.Tensor] = {}
    for name, spec in manifest["layers"].items():
        fmt = LayerFormat(spec["pattern"], spec["values"], int(spec.get("group_size") or 0))
        rows, cols = spec["shape"]
        module, keep = decode_layer(name, tensors, fmt, (int(rows), int(cols)))
        set_module(model, name, module)
        formats[name] = fmt
        if keep is not None:
            masks[name] = keep
    model.config.use_cache = True
    model.eval()
    return model.to(device), formats, masks, manifest


def dense_weight(module: nn.Module) -> torch.Tensor:
    """A decoded layer's weight (out x in) in FP32: INT4 and INT8 codes dequantised (code minus zero
    point, times scale), a pruned weight exactly 0."""
    if isinstance(module, Int4Linear):
        return module.weight_float()
    if is_int8_linear(module):
        codes, scale = int8_weight(module)
        return codes.float() * scale
    return weight_of(module).detach().float()


def to_pretrained(folder: Path) -> tuple[nn.Module, PackedForm]:
    """(the packed model as a plain transformers model of its own architecture, what its packed
    form holds): the modules the architecture defines (GPT-2's Conv1D again, transposed back), every
    tensor in FP32, each compressed layer's weight as `dense_weight` decodes it, so
    ``save_pretrained`` writes a folder ``AutoModelForCausalLM.from_pretrained`` loads. The model
    computes what the packed one computes, but an INT8 layer: the run's torch.ao kernel quantizes
    its activations too, this one does not."""
    packed, formats, _, manifest = load(folder, torch.device("cpu"))
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]  # transformers' from_config is unannotated
    decoded = dict(packed.named_modules())
    target = dict(model.named_modules())
    with torch.no_grad():
        keys = set(model.state_dict())
        state = {k: v for k, v in packed.state_dict().items() if k in keys and k.rsplit(".", 1)[0] not in formats}
        missing, _ = model.load_state_dict(state, strict=False)
        for name in formats:
            weight, layer = dense_weight(decoded[name]), target[name]
            weight_of(layer).copy_(weight.T if isinstance(layer, Conv1D) else weight)
            bias = getattr(decoded[name], "bias", None)
            bias = bias() if callable(bias) else bias  # torch.ao's dynamic Linear: bias() is a method
            if isinstance(bias, torch.Tensor) and isinstance(getattr(layer, "bias", None), torch.Tensor):
                layer.bias.copy_(bias.float())
    left = [k for k in missing if k.rsplit(".", 1)[0] not in formats and "rotary_emb" not in k]
    if left:
        raise ExperimentError(f"compressed model {folder}: no stored tensor for {left[:3]}")
    model.tie_weights()
    model.eval()
    form = PackedForm(tuple(str(c) for c in manifest.get("chain") or []),
                      tuple(sorted({f.values for f in formats.values()})),
                      tuple(sorted({f.pattern for f in formats.values()})),
                      tuple(sorted({f.group_size for f in formats.values() if f.values == "int4"})),
                      str(manifest.get("other_dtype")), size_on_disk(folder),
                      sum(p.numel() for p in model.parameters()))  # tied ones once
    return model, form
