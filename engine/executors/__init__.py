"""Where runs execute, behind the scheduler: `local` (detached processes on this machine, forked
from a warm worker) and `ray` (one Ray job per run). Chosen by `[executor] kind` in config.toml.

The Ray executor is imported only when it is configured: the engine never loads ray otherwise.
"""

from __future__ import annotations

from pathlib import Path

from engine.config import ExecutorKind, LabConfig
from engine.executors.base import Executor, Exit, Launch, LaunchError, RunHandle
from engine.executors.local import LocalExecutor

__all__ = ["Executor", "Exit", "Launch", "LaunchError", "LocalExecutor", "RunHandle", "make_executors"]


def make_executors(config: LabConfig, module: str, lab_root: Path) -> tuple[Executor, dict[str, Executor]]:
    """(the executor new runs start on, every executor by name). The local one is always
    there: runs started locally before a switch to Ray are still watched to their end."""
    kind = config.executor.kind
    local = LocalExecutor(config.executor, module, cwd=lab_root, warm=config.executor.warm and kind == ExecutorKind.LOCAL)
    executors: dict[str, Executor] = {ExecutorKind.LOCAL: local}
    if kind == ExecutorKind.RAY:
        from engine.executors.rayjobs import RayExecutor  # loads ray lazily, only here

        executors[ExecutorKind.RAY] = RayExecutor(config.executor, module, lab_root)
    return executors[kind], executors
