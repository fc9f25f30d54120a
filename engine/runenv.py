"""The environment a run process gets: the engine's, minus every secret, plus its device and threads.

The same rule holds wherever a run executes: a local process gets `run_environment()`; a warm
worker's fork replaces its environment with it before anything runs; a Ray job gets only the
run's own variables (`run_variables()`) and the job's wrapper on the node drops every variable
that `secret_pattern()` matches from the node's environment before the program starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

# Any variable whose name looks like it holds a credential is withheld from training subprocesses.
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
ALWAYS_SECRET = frozenset({"JOULELAB_LLM_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY"})
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def is_secret(name: str) -> bool:
    return name in ALWAYS_SECRET or bool(SECRET_NAME.search(name))


def secret_pattern() -> str:
    """The rule of `is_secret` as one case-insensitive regular expression (for a job's wrapper,
    which runs on another machine and cannot import the engine)."""
    names = "|".join(re.escape(n) for n in sorted(ALWAYS_SECRET))
    return f"^(?:{names})$|{SECRET_NAME.pattern}"


def scrubbed(base: Mapping[str, str] | None = None) -> dict[str, str]:
    return {k: v for k, v in (os.environ if base is None else base).items() if not is_secret(k)}


def run_variables(*, threads: int, cuda_device: int | None, cache_dir: str | None,
                  gpu_from_scheduler: bool = False) -> dict[str, str]:
    """What a run sets on top of the (scrubbed) environment it inherits.

    `gpu_from_scheduler`: a GPU run whose device is chosen by someone else (Ray sets
    CUDA_VISIBLE_DEVICES for a job that asked for a GPU), so the variable is left alone.
    """
    env = {name: str(threads) for name in THREAD_VARIABLES}
    # a CPU run sees no GPU at all; a GPU run sees exactly its one device
    if cuda_device is None and not gpu_from_scheduler:
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif cuda_device is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(cuda_device)
    if cache_dir:
        env["JOULELAB_CACHE"] = cache_dir
    env["PYTHONUNBUFFERED"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["HF_HUB_OFFLINE"] = "1"  # no weights are fetched from a hub at run time
    return env


def run_environment(base: Mapping[str, str] | None = None, *, threads: int,
                    cuda_device: int | None, cache_dir: str) -> dict[str, str]:
    env = scrubbed(base)
    env.update(run_variables(threads=threads, cuda_device=cuda_device, cache_dir=cache_dir))
    return env


def forwarded(names: Iterable[str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The named variables of the engine's environment, never a secret one."""
    source = os.environ if base is None else base
    return {n: source[n] for n in names if n in source and not is_secret(n)}
