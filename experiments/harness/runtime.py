"""Process set-up for one run: threads, seeds, deterministic flags, library versions."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import random
from importlib import metadata

import numpy as np
import torch

from contract.events import ResultValues

VERSION_PACKAGES = ("torch", "numpy", "scikit-learn", "codecarbon", "transformers", "peft")
#: CPU features that decide whether low precision, int8 or wide vectors are fast on this machine
#: (x86 flags of /proc/cpuinfo; ARM "Features": asimd = NEON, bf16, i8mm, sve)
RELEVANT_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                      "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                      "amx_bf16", "amx_int8", "asimd", "asimdhp", "bf16", "i8mm", "sve", "sve2")


def setup(seed: int, threads: int, device: str) -> torch.device:
    """Limit threads, seed python/numpy/torch, ask for deterministic kernels; return the device."""
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    # RuntimeError: already set in this process (local tries run several variants in-process)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    if device == "cuda":
        if not torch.cuda.is_available():
            from .errors import ExperimentError
            raise ExperimentError("device 'cuda' requested but torch sees no CUDA GPU "
                                  "(check CUDA_VISIBLE_DEVICES and the torch build)")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    # On every device (issue 22 item 6): the CPU kernels used here are deterministic at a fixed thread
    # count, and the mode makes torch say so of any that is not (warn_only: a warning, not a failed
    # run). The call imports torch._dynamo and torch._inductor, which the warm worker preloads and
    # torch's optimisers import on first use anyway (a cold process pays it once: ~1 s).
    torch.use_deterministic_algorithms(True, warn_only=True)
    seed_all(seed)
    return torch.device(device)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def determinism() -> ResultValues:
    """The settings a run's numbers depend on beyond its seed (issue 22, item 6): threads, and
    whether torch's deterministic algorithms and cuDNN's deterministic kernels were asked for."""
    return {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}


@functools.cache
def package_versions() -> dict[str, str]:
    """Python's and the libraries' versions, read once per process: they describe the code
    loaded in it (a warm worker reads them before forking, so its runs skip ~25 ms each)."""
    out = {"python": platform.python_version()}
    for pkg in VERSION_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def versions() -> dict[str, str]:
    out = dict(package_versions())
    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
    return out


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The relevant CPU flags present on this machine, in RELEVANT_CPU_FLAGS order ([] when
    the machine does not say, e.g. not Linux)."""
    present: set[str] = set()
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("flags", "Features"):
                    present.update(value.split())
                    break
    except OSError:
        return []
    return [f for f in RELEVANT_CPU_FLAGS if f in present]


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("model name", "Model", "Hardware"):
                    return value.strip() or None
    except OSError:
        pass
    return platform.processor() or None
