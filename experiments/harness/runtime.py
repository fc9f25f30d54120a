"""Process set-up for one run: threads, seeds, deterministic flags, library versions."""

from __future__ import annotations

import os
import platform
import random
from importlib import metadata

import numpy as np
import torch

VERSION_PACKAGES = ("torch", "numpy", "scikit-learn", "codecarbon", "transformers", "peft")


def setup(seed: int, threads: int, device: str) -> torch.device:
    """Limit threads, seed python/numpy/torch, ask for deterministic kernels; return the device."""
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process (local tries run several variants in-process)
    if device == "cuda":
        if not torch.cuda.is_available():
            from .errors import ExperimentError
            raise ExperimentError("device 'cuda' requested but torch sees no CUDA GPU "
                                  "(check CUDA_VISIBLE_DEVICES and the torch build)")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # Only on CUDA, where kernels really are non-deterministic by default. On CPU the kernels
        # used here are deterministic for a fixed thread count, and the call itself costs ~1.2 s
        # per process (it imports torch._inductor), a tenth of a default run's budget.
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_all(seed)
    return torch.device(device)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in VERSION_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
    return out
