"""The environment a run process gets: the engine's, minus every secret, plus its device and threads."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# Any variable whose name looks like it holds a credential is withheld from training subprocesses.
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
ALWAYS_SECRET = frozenset({"JOULELAB_LLM_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY"})


def is_secret(name: str) -> bool:
    return name in ALWAYS_SECRET or bool(SECRET_NAME.search(name))


def run_environment(base: Mapping[str, str] | None = None, *, threads: int,
                    cuda_device: int | None, cache_dir: str) -> dict[str, str]:
    env = {k: v for k, v in (os.environ if base is None else base).items() if not is_secret(k)}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    # a CPU run sees no GPU at all; a GPU run sees exactly its one device
    env["CUDA_VISIBLE_DEVICES"] = "" if cuda_device is None else str(cuda_device)
    env["JOULELAB_CACHE"] = cache_dir
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["HF_HUB_OFFLINE"] = "1"  # no weights are fetched from a hub at run time
    return env
