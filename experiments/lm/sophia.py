"""Sophia's Hessian estimate on a causal LM: the Gauss-Newton-Bartlett estimator (Liu et al. 2023,
Algorithm 2), as the authors' GPT-2 training does it (train_sophiag.py): every k optimizer steps,
on a fresh batch, labels are sampled from the model's own output distribution, the cross-entropy
on them is back-propagated (and clipped as the training's gradient is), and the optimizer's
``update_hessian`` folds the squared gradient into its running estimate."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..harness.optim import SophiaG
from .evaluate import autocast


def sampled_label_loss(logits: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` (batch, positions, vocabulary) on labels drawn from
    softmax(logits) itself, over the positions where ``mask`` is true."""
    flat = logits.float().reshape(-1, logits.shape[-1])
    probs = torch.softmax(flat.detach(), -1)
    sample = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(flat.device)
    keep = mask.reshape(-1).bool()
    return F.cross_entropy(flat[keep], sample[keep])


class GNBHessian:
    """``after_step`` of the training loop: every ``every`` steps, one GNB estimate."""

    def __init__(self, model: nn.Module, optimizer: SophiaG, next_batch: Callable[[], dict[str, torch.Tensor]],
                 every: int, device: torch.device, precision: str, clip_norm: float | None, seed: int) -> None:
        self.model, self.optimizer, self.next_batch = model, optimizer, next_batch
        self.every, self.device, self.precision, self.clip_norm = every, device, precision, clip_norm
        self.generator = torch.Generator().manual_seed(seed)
        self.updates = 0

    def __call__(self, step: int) -> None:
        if step % self.every:
            return
        batch = {k: v.to(self.device) for k, v in self.next_batch().items()}
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        torch.autograd.backward(sampled_label_loss(logits, batch["attention_mask"], self.generator))
        if self.clip_norm is not None:
            nn.utils.clip_grad_norm_(params, self.clip_norm)
        self.optimizer.update_hessian()
        self.optimizer.zero_grad(set_to_none=True)
        self.updates += 1
