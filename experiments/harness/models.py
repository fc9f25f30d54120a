"""Models, built from a plain dict ``arch`` so a dependent run can rebuild a checkpoint.

All attention is written with plain ``nn.Linear`` layers (not ``nn.MultiheadAttention``) so
dynamic INT8 quantization and pruning reach every projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from contract.record_json import OPT, JsonRecord


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: list[int], num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class CNN(nn.Module):
    """Conv3x3-ReLU blocks, a 2x2 max-pool after the first, global average pooling, a linear head."""

    def __init__(self, in_channels: int, channels: list[int], num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, out in enumerate(channels):
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU()]
            if i == 0:
                layers.append(nn.MaxPool2d(2))
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x).mean(dim=(2, 3)))
        return logits


class DWSepCNN(nn.Module):
    """MobileNet-style: a full stem conv, then depthwise 3x3 + pointwise 1x1 blocks."""

    def __init__(self, in_channels: int, channels: list[int], num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, padding=1), nn.ReLU(),
                                   nn.MaxPool2d(2)]
        c = channels[0]
        for out in channels[1:]:
            layers += [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.ReLU(),
                       nn.Conv2d(c, out, 1), nn.ReLU()]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x).mean(dim=(2, 3)))
        return logits


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, kind: str) -> None:
        super().__init__()
        assert dim % heads == 0, "dim must be divisible by heads"
        self.heads, self.kind = heads, kind
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if self.kind == "linear":
            # Katharopoulos et al. 2020: phi(x) = elu(x) + 1, cost O(n d^2) instead of O(n^2 d)
            q, k = F.elu(q) + 1, F.elu(k) + 1
            kv = torch.einsum("bhnd,bhne->bhde", k, v)
            z = 1.0 / (torch.einsum("bhnd,bhd->bhn", q, k.sum(dim=2)) + 1e-6)
            out = torch.einsum("bhnd,bhde,bhn->bhne", q, kv, z)
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        y: torch.Tensor = self.proj(out.transpose(1, 2).reshape(b, n, d))
        return y


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int, attention: str) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, attention)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        y: torch.Tensor = x + self.mlp(self.norm2(x))
        return y


class TransformerClassifier(nn.Module):
    """ViT-style: non-overlapping patches -> tokens, pre-norm blocks, mean pooling, a linear head.
    ``shared`` reuses one block ``depth`` times (ALBERT-style cross-layer sharing)."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int, patch: int = 2, dim: int = 64,
                 depth: int = 2, heads: int = 4, mlp_ratio: int = 2, attention: str = "softmax",
                 shared: bool = False) -> None:
        super().__init__()
        c, h, w = shape
        self.patch = patch
        tokens = (h // patch) * (w // patch)
        self.embed = nn.Linear(c * patch * patch, dim)
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        n_blocks = 1 if shared else depth
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, attention) for _ in range(n_blocks))
        self.depth = depth
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch
        b, c, _h, _w = x.shape
        x = x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * p * p)
        x = self.embed(x) + self.pos
        for i in range(self.depth):
            x = self.blocks[i % len(self.blocks)](x)
        logits: torch.Tensor = self.head(self.norm(x).mean(dim=1))
        return logits


class DeepMLP(nn.Module):
    """A deep residual MLP whose hidden blocks can be checkpointed in segments of ``every_k``."""

    def __init__(self, in_features: int, width: int, depth: int, num_classes: int,
                 every_k: int = 0) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU()) for _ in range(depth))
        self.head = nn.Linear(width, num_classes)
        self.every_k = every_k

    def _segment(self, start: int, end: int, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks[start:end]:
            x = x + block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        k = self.every_k
        if k and self.training and torch.is_grad_enabled():
            for start in range(0, len(self.blocks), k):
                x = checkpoint(self._segment, start, min(start + k, len(self.blocks)), x,
                               use_reentrant=False)
        else:
            x = self._segment(0, len(self.blocks), x)
        out: torch.Tensor = self.head(x)
        return out


class LogReg(nn.Module):
    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.linear(x.flatten(1))
        return logits


#: the attribute of a built model that holds its ``arch`` (what `RunContext.keep_for_zoo` saves with it)
ARCH_ATTR = "joulelab_arch"


#: the sizes of a transformer (`TransformerClassifier`'s keywords), as an `Arch` names them
TRANSFORMER_SIZES = ("patch", "dim", "depth", "heads", "mlp_ratio", "attention", "shared")


@dataclass(frozen=True)
class Arch(JsonRecord):
    """A model `build` makes, as its checkpoint (``arch``) and the zoo's config.json keep it: its
    kind, the input's shape, the classes, and the sizes its kind has (None: not one of this kind's;
    left out of the JSON)."""

    kind: str  # logreg, mlp, cnn, dwsep_cnn, transformer, deep_mlp
    shape: tuple[int, ...]  # the input's [c, h, w]
    num_classes: int
    hidden: tuple[int, ...] | None = field(default=None, metadata=OPT)  # mlp: the hidden layers' widths
    channels: tuple[int, ...] | None = field(default=None, metadata=OPT)  # cnn, dwsep_cnn
    patch: int | None = field(default=None, metadata=OPT)  # transformer
    dim: int | None = field(default=None, metadata=OPT)  # transformer
    width: int | None = field(default=None, metadata=OPT)  # deep_mlp
    depth: int | None = field(default=None, metadata=OPT)  # transformer, deep_mlp
    heads: int | None = field(default=None, metadata=OPT)  # transformer
    mlp_ratio: int | None = field(default=None, metadata=OPT)  # transformer
    attention: str | None = field(default=None, metadata=OPT)  # transformer: softmax or linear
    shared: bool | None = field(default=None, metadata=OPT)  # transformer: one block reused
    every_k: int | None = field(default=None, metadata=OPT)  # deep_mlp: checkpoint every k blocks
    factorized: dict[str, int] | None = field(default=None, metadata=OPT)  # low_rank's: layer -> rank

    def __post_init__(self) -> None:
        for name in ("shape", "hidden", "channels"):  # given as lists (a parameter's values): kept as tuples
            if isinstance(value := getattr(self, name), list):
                object.__setattr__(self, name, tuple(value))

    def need(self, size: str) -> Any:
        value = getattr(self, size)
        if value is None:
            raise ValueError(f"a {self.kind} model needs its {size!r}")
        return value


def build(arch: Arch) -> nn.Module:
    """Build a model from ``arch``; the model holds its ``arch`` in ARCH_ATTR. ``factorized``
    ({layer: rank}, low_rank's) replaces those linear layers by their two factors of that rank
    (`lowrank.factorize_linear`)."""
    kind, shape, n = arch.kind, arch.shape, arch.num_classes
    features = math.prod(shape)
    model: nn.Module
    if kind == "logreg":
        model = LogReg(features, n)
    elif kind == "mlp":
        model = MLP(features, list(arch.need("hidden")), n)
    elif kind == "cnn":
        model = CNN(shape[0], list(arch.need("channels")), n)
    elif kind == "dwsep_cnn":
        model = DWSepCNN(shape[0], list(arch.need("channels")), n)
    elif kind == "transformer":
        sizes = {k: v for k in TRANSFORMER_SIZES if (v := getattr(arch, k)) is not None}
        model = TransformerClassifier((shape[0], shape[1], shape[2]), n, **sizes)
    elif kind == "deep_mlp":
        model = DeepMLP(features, arch.need("width"), arch.need("depth"), n, arch.every_k or 0)
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    if arch.factorized:
        from .lowrank import factorize_layers

        factorize_layers(model, dict(arch.factorized))
    setattr(model, ARCH_ATTR, arch)
    return model
