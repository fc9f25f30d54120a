"""Low-rank factorization of linear layers by truncated SVD: W (out x in) ~ A B with A (out x k)
and B (k x in), the best rank-k approximation in the Frobenius norm (Eckart & Young 1936), the
singular values split evenly between the factors. A layer is factorized only where the factors
hold fewer parameters than the matrix: k (in + out) < in x out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Factorization:
    """What happened to one linear layer."""
    name: str
    in_features: int
    out_features: int
    rank: int                  # kept singular values (the full rank when not factorized)
    factorized: bool
    kept_energy: float         # share of sum(sigma^2) the kept singular values hold
    relative_error: float      # ||W - A B||_F / ||W||_F
    params_before: int         # weights and bias
    params_after: int


def svd_factors(w: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, B, singular values) of the rank-``rank`` truncated SVD of ``w``: A = U_k sqrt(S_k),
    B = sqrt(S_k) V_k^T, computed in float64."""
    u, s, vh = torch.linalg.svd(w.detach().double(), full_matrices=False)
    k = max(1, min(rank, len(s)))
    root = s[:k].sqrt()
    return (u[:, :k] * root).to(w.dtype), (root[:, None] * vh[:k]).to(w.dtype), s


def rank_for_energy(s: torch.Tensor, energy: float) -> int:
    """The smallest k whose first k singular values hold at least ``energy`` of sum(sigma^2)."""
    share = torch.cumsum(s.double() ** 2, 0) / float((s.double() ** 2).sum())
    return int(min(len(s), int(torch.searchsorted(share, torch.tensor(energy - 1e-12, dtype=share.dtype))) + 1))


def factorized_params(in_features: int, out_features: int, rank: int, bias: bool = True) -> int:
    return rank * (in_features + out_features) + (out_features if bias else 0)


def saves(in_features: int, out_features: int, rank: int) -> bool:
    return rank * (in_features + out_features) < in_features * out_features


def factorize_linear(layer: nn.Linear, rank: int) -> nn.Sequential:
    """Linear(in, k, no bias) then Linear(k, out, with the layer's bias): y = A (B x) + b."""
    a, b, _ = svd_factors(layer.weight, rank)
    k = a.shape[1]
    first = nn.Linear(layer.in_features, k, bias=False).to(layer.weight.device, layer.weight.dtype)
    second = nn.Linear(k, layer.out_features, bias=layer.bias is not None).to(layer.weight.device,
                                                                              layer.weight.dtype)
    with torch.no_grad():
        first.weight.copy_(b)
        second.weight.copy_(a)
        if layer.bias is not None:
            second.bias.copy_(layer.bias)
    return nn.Sequential(first, second)


def factorize_model(model: nn.Module, rank: int | None = None, energy: float | None = None) -> list[Factorization]:
    """Replace, in place, every nn.Linear of ``model`` whose factors at the chosen rank (``rank``,
    or the smallest keeping ``energy`` of the spectrum) hold fewer parameters than it."""
    assert (rank is None) != (energy is None), "give a rank or a kept energy"
    out = []
    for name, layer in [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]:
        s = torch.linalg.svdvals(layer.weight.detach().double())
        full = len(s)
        k = min(full, rank) if rank is not None else rank_for_energy(s, float(energy))  # type: ignore[arg-type]
        before = layer.weight.numel() + (layer.bias.numel() if layer.bias is not None else 0)
        squared = s ** 2
        if not saves(layer.in_features, layer.out_features, k):
            out.append(Factorization(name, layer.in_features, layer.out_features, full, False, 1.0, 0.0,
                                     before, before))
            continue
        kept = float(squared[:k].sum() / squared.sum())
        parent, attr = _parent(model, name)
        setattr(parent, attr, factorize_linear(layer, k))
        out.append(Factorization(name, layer.in_features, layer.out_features, k, True, kept,
                                 float((squared[k:].sum() / squared.sum()).sqrt()), before,
                                 factorized_params(layer.in_features, layer.out_features, k, layer.bias is not None)))
    return out


def factorize_layers(model: nn.Module, ranks: dict[str, int]) -> None:
    """Replace, in place, each named nn.Linear by its factors at the given rank (the structure of a
    factorized model, for its saved weights to load into)."""
    for name, rank in ranks.items():
        layer = model.get_submodule(name)
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"{name} is a {type(layer).__name__}, not a linear layer to factorize")
        parent, attr = _parent(model, name)
        setattr(parent, attr, factorize_linear(layer, int(rank)))


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    path = name.split(".")
    parent = model
    for part in path[:-1]:
        parent = getattr(parent, part)
    return parent, path[-1]
