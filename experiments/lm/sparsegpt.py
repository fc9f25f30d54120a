"""SparseGPT (Frantar & Alistarh 2023): one-shot pruning that reconstructs each layer's output.

Each linear layer is pruned column by column through the inverse Hessian of its inputs
(H = 2 X X^T over the calibration tokens, the GPTQ Hessian of ``quantize.HessianCollector``): a
pruned weight's error is spread over the columns not yet processed (the OBS update), so the
layer's output on the calibration data moves as little as the mask allows. The mask is chosen
adaptively per block of 128 columns by the OBS saliency w^2 / [H^-1]_jj^2 (unstructured: the
lowest ``sparsity`` fraction of the block; N:M: in every group of M inputs of a row, the M - N
lowest, chosen when the group's first column is reached).

Follows the reference code (github.com/IST-DASLab/sparsegpt, ``sparsegpt.py`` ``fasterprune``):
1 % damping, lazy batch updates in blocks of 128 columns, dead inputs (zero Hessian diagonal) set
to zero. One deliberate difference: the reference prunes ``int(n x sparsity) + 1`` weights of a
block (a ``<=`` threshold); this prunes exactly ``int(n x sparsity)``, so the declared sparsity is
the stored one. Blocks are pruned in order, each block's Hessians from its inputs through the
blocks before it already pruned (the reference's sequential order; all the layers of a block from
one pass, as its default, not ``--true-sequential``).
"""

from __future__ import annotations

import torch
from torch import nn

from .quantize import HessianCollector
from .sparsity import decoder_blocks, nm_of, run_calibration

BLOCK = 128        # columns per lazy batch update (the reference's blocksize)
DAMP = 0.01        # fraction of the mean Hessian diagonal added to it (the reference's percdamp)


def inverse_hessian_factor(hessian: torch.Tensor, damp: float = DAMP) -> tuple[torch.Tensor, torch.Tensor]:
    """(upper Cholesky factor of H^-1, dead inputs) after damping; H^-1 = U^T U, and row i of U
    from the diagonal on is what the OBS update of column i needs (as in GPTQ)."""
    h = hessian.double().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    cols = h.shape[0]
    h += damp * torch.mean(torch.diag(h)) * torch.eye(cols, dtype=h.dtype)
    return torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True), dead


def _block_mask(w_block: torch.Tensor, diag: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Pruned-mask (True = pruned) of one block of columns: the ``sparsity`` fraction of its
    weights with the lowest OBS saliency w^2 / [H^-1]_jj^2, compared across the whole block."""
    saliency = (w_block ** 2 / diag[None, :] ** 2).flatten()
    k = int(saliency.numel() * sparsity)
    pruned = torch.zeros(saliency.numel(), dtype=torch.bool)
    if k:
        pruned[torch.sort(saliency, stable=True).indices[:k]] = True
    return pruned.view_as(w_block)


@torch.no_grad()
def sparsegpt_weight(weight: torch.Tensor, hessian: torch.Tensor, sparsity: float, pattern: str = "unstructured",
                     damp: float = DAMP, block: int = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """(pruned and reconstructed weight, keep-mask) of one layer (out x in) from its input
    Hessian (in x in)."""
    w_full = weight.detach().double().cpu().clone()
    rows, cols = w_full.shape
    h_inv, dead = inverse_hessian_factor(hessian, damp)
    w_full[:, dead] = 0.0
    nm = nm_of(pattern)
    pruned = torch.zeros(rows, cols, dtype=torch.bool)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        w_block = w_full[:, i1:i2].clone()
        q_block = torch.zeros_like(w_block)
        err_block = torch.zeros_like(w_block)
        h_inv_block = h_inv[i1:i2, i1:i2]
        diag = torch.diag(h_inv_block)
        mask1 = _block_mask(w_block, diag, sparsity) if nm is None else torch.zeros_like(w_block, dtype=torch.bool)
        for i in range(i2 - i1):
            if nm is not None and (i1 + i) % nm[1] == 0:
                keep, group = nm
                width = min(group, cols - (i1 + i))
                width = min(width, (i2 - i1) - i)  # a group never straddles a block (BLOCK % M == 0)
                saliency = w_block[:, i:i + width] ** 2 / diag[i:i + width][None, :] ** 2
                drop = max(0, width - keep)
                if drop:
                    idx = torch.topk(saliency, drop, dim=1, largest=False).indices
                    mask1.scatter_(1, i + idx, True)
            w = w_block[:, i]
            q = torch.where(mask1[:, i], torch.zeros_like(w), w)
            q_block[:, i] = q
            err = (w - q) / h_inv_block[i, i]
            w_block[:, i:] -= err[:, None] @ h_inv_block[i, i:][None, :]
            err_block[:, i] = err
        w_full[:, i1:i2] = q_block
        pruned[:, i1:i2] = mask1
        w_full[:, i2:] -= err_block @ h_inv[i1:i2, i2:]
    return w_full.to(weight.dtype), ~pruned


@torch.no_grad()
def sparsegpt_prune(model: nn.Module, sparsity: float, pattern: str, calibration: list[torch.Tensor],
                    device: torch.device) -> dict[str, torch.Tensor]:
    """Prune every decoder-block linear layer of ``model`` in place by SparseGPT, block by block;
    returns the keep-masks by layer name."""
    nm = nm_of(pattern)
    if nm is not None and BLOCK % nm[1]:
        raise ValueError(f"{pattern}: groups of {nm[1]} do not tile blocks of {BLOCK} columns")
    masks: dict[str, torch.Tensor] = {}
    for index, layers in decoder_blocks(model):
        collect = HessianCollector(layers)
        try:
            run_calibration(model, calibration, device, upto_block=index)
        finally:
            collect.close()
        for name, module in layers:
            w, keep = sparsegpt_weight(module.weight, collect.h[name], sparsity, pattern)
            module.weight.copy_(w.to(module.weight.device))
            masks[name] = keep
    return masks
