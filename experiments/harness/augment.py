"""Cheap image augmentation for training batches."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def random_shift(max_shift: int, generator: torch.Generator | None = None
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    """Shift each image by up to ``max_shift`` pixels in x and y, filling with the border value
    (zero-padding then cropping, per sample)."""
    def apply(x: torch.Tensor) -> torch.Tensor:
        if max_shift <= 0:
            return x
        n, _, h, w = x.shape
        s = max_shift
        padded = F.pad(x, (s, s, s, s), mode="replicate")
        dx = torch.randint(0, 2 * s + 1, (n,), generator=generator).tolist()
        dy = torch.randint(0, 2 * s + 1, (n,), generator=generator).tolist()
        return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    return apply
