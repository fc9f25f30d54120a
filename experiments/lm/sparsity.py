"""Pruning masks of a causal LM's decoder-block linear layers: magnitude and Wanda, unstructured
and N:M semi-structured (2:4).

Both criteria follow the reference code of Sun et al. 2023 (github.com/locuslab/wanda,
``lib/prune.py``):

- **magnitude**: score |W|; unstructured masks compare all weights of one layer (one threshold
  per weight matrix, the paper's magnitude baseline);
- **Wanda**: score |W_ij| x ||X_j||_2, the weight times the L2 norm of its input feature over the
  calibration tokens; unstructured masks compare the weights of each output row (Wanda's
  comparison group).
- **N:M** (both criteria): in every group of M consecutive input weights of a row, the N with
  the smallest score are removed (2:4 keeps exactly 2 of every 4).

Only linear layers inside numbered decoder blocks are pruned (not the embeddings or the output
head, as in the papers); the sparsity is the fraction of those layers' weights set to zero.
Wanda's activation norms are measured layer by layer, each block seeing the outputs of the blocks
before it already pruned (the reference code's sequential order).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .models import block_linears

CRITERIA = ("magnitude", "wanda")
PATTERNS = ("unstructured", "2:4")


def nm_of(pattern: str) -> tuple[int, int] | None:
    """(N, M) of an N:M pattern ("2:4": keep 2 of every 4), None when unstructured."""
    if pattern == "unstructured":
        return None
    keep, group = (int(x) for x in pattern.split(":"))
    return keep, group


def magnitude_scores(weight: torch.Tensor) -> torch.Tensor:
    return weight.detach().abs().float()


def wanda_scores(weight: torch.Tensor, input_sq_norm: torch.Tensor) -> torch.Tensor:
    """|W| x ||X_j||_2 (``input_sq_norm`` holds sum over tokens of x_j^2 per input feature j)."""
    return weight.detach().abs().float() * input_sq_norm.float().clamp_min(0).sqrt()[None, :]


def unstructured_mask(scores: torch.Tensor, sparsity: float, per_row: bool) -> torch.Tensor:
    """Keep-mask (True = kept) removing the ``sparsity`` fraction with the smallest scores, within
    each row (``per_row``) or within the whole matrix. Ties are broken by position (stable), so a
    mask removes exactly round-down(sparsity x count) weights."""
    if per_row:
        k = int(scores.shape[1] * sparsity)
        keep = torch.ones_like(scores, dtype=torch.bool)
        if k:
            idx = torch.sort(scores, dim=1, stable=True).indices[:, :k]
            keep.scatter_(1, idx, False)
        return keep
    k = int(scores.numel() * sparsity)
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    if k:
        idx = torch.sort(scores.flatten(), stable=True).indices[:k]
        keep[idx] = False
    return keep.view_as(scores)


def nm_mask(scores: torch.Tensor, keep: int, group: int) -> torch.Tensor:
    """Keep-mask with exactly ``keep`` non-zeros in every ``group`` consecutive inputs of a row
    (a last, shorter group keeps at most ``keep``)."""
    rows, cols = scores.shape
    pad = (-cols) % group
    padded = torch.cat([scores, torch.full((rows, pad), float("inf"))], dim=1) if pad else scores
    groups = padded.view(rows, -1, group)
    top = torch.topk(groups, keep, dim=2, largest=True, sorted=False).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(2, top, True)
    return mask.view(rows, -1)[:, :cols]


def make_mask(scores: torch.Tensor, criterion: str, sparsity: float, pattern: str) -> torch.Tensor:
    nm = nm_of(pattern)
    if nm is not None:
        return nm_mask(scores, *nm)
    return unstructured_mask(scores, sparsity, per_row=criterion == "wanda")


def decoder_blocks(model: nn.Module) -> list[tuple[int, list[tuple[str, nn.Linear]]]]:
    """The decoder blocks in order, each with its linear layers (names as in the model)."""
    by_block: dict[int, list[tuple[str, nn.Linear]]] = {}
    for name, module in block_linears(model):
        if not isinstance(module, nn.Linear):
            raise TypeError(f"{name} is a {type(module).__name__}; convert it with as_linear_blocks() first")
        index = int(next(p for p in name.split(".") if p.isdigit()))
        by_block.setdefault(index, []).append((name, module))
    return sorted(by_block.items())


class InputNorms:
    """Sum over calibration tokens of each input feature squared, for a set of linear layers."""

    def __init__(self, layers: Iterable[tuple[str, nn.Linear]]) -> None:
        self.sums = {name: torch.zeros(m.in_features, dtype=torch.float64) for name, m in layers}
        self.tokens = 0
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in layers]

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], __: torch.Tensor) -> None:
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double()
            self.sums[name] += (x * x).sum(0).cpu()
        return hook

    def close(self) -> None:
        for h in self._handles:
            h.remove()


@torch.no_grad()
def run_calibration(model: nn.Module, batches: list[torch.Tensor], device: torch.device,
                    upto_block: int | None = None) -> None:
    """Forward the calibration sequences (hooks collect what they need). With ``upto_block``, the
    forward stops after that decoder block (what later blocks do does not matter to it)."""
    model.eval()
    stop = _StopAfter(model, upto_block) if upto_block is not None else None
    try:
        for ids in batches:
            with contextlib.suppress(_StopForwardError):
                model(input_ids=ids.to(device), use_cache=False)
    finally:
        if stop is not None:
            stop.close()


class _StopForwardError(Exception):
    pass


class _StopAfter:
    def __init__(self, model: nn.Module, block: int) -> None:
        layers = _layer_list(model)
        self.handle = layers[block].register_forward_hook(self._raise) if layers is not None and \
            block < len(layers) - 1 else None

    @staticmethod
    def _raise(*_: object) -> None:
        raise _StopForwardError

    def close(self) -> None:
        if self.handle is not None:
            self.handle.remove()


def _layer_list(model: nn.Module) -> nn.ModuleList | None:
    """The model's list of decoder blocks (Llama-style ``model.layers``, GPT-2's ``transformer.h``...)."""
    best = None
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) and (best is None or len(module) > len(best)):
            best = module
    return best


@torch.no_grad()
def prune(model: nn.Module, criterion: str, sparsity: float, pattern: str, calibration: list[torch.Tensor],
          device: torch.device) -> dict[str, torch.Tensor]:
    """Prune every decoder-block linear layer of ``model`` in place; returns the keep-masks by
    layer name. Wanda measures each block's input norms with the blocks before it pruned."""
    masks: dict[str, torch.Tensor] = {}
    for index, layers in decoder_blocks(model):
        norms = None
        if criterion == "wanda":
            norms = InputNorms(layers)
            try:
                run_calibration(model, calibration, device, upto_block=index)
            finally:
                norms.close()
        for name, module in layers:
            w = module.weight
            scores = magnitude_scores(w) if norms is None else wanda_scores(w, norms.sums[name])
            mask = make_mask(scores.cpu(), criterion, sparsity, pattern)
            w.mul_(mask.to(w.device, w.dtype))
            masks[name] = mask
    return masks


def sparsity_of(model: nn.Module) -> float:
    """Fraction of zeros among the decoder-block linear weights."""
    total = zeros = 0
    for _, module in block_linears(model):
        w = module.weight
        total += w.numel()
        zeros += int((w == 0).sum())
    return zeros / total if total else 0.0
