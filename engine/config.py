"""config.toml, read into typed settings with every value checked."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from contract import config
from contract.config import ConfigError
from contract.layout import LabDir
from db import RunDefaults


@dataclass(frozen=True)
class SlotConfig:
    cpu: int = 2
    gpus: list[int] | None = None  # None: every GPU NVML sees
    per_gpu: int = 1
    threads_per_run: int = 0

    def threads(self) -> int:
        if self.threads_per_run > 0:
            return self.threads_per_run
        return max(1, (os.cpu_count() or 1) // max(1, self.cpu))


class ExecutorKind(StrEnum):
    LOCAL = "local"
    RAY = "ray"


EXECUTOR_KINDS = tuple(k.value for k in ExecutorKind)


@dataclass(frozen=True)
class ExecutorConfig:
    """[executor]: where runs execute. `local` runs detached processes on this machine (forked
    from a warm worker when `warm`); `ray` submits each run as a job to a Ray cluster."""

    kind: ExecutorKind = ExecutorKind.LOCAL
    warm: bool = True                   # local: fork runs from a worker that imported torch & co.
    warm_idle_s: float = 300.0          # local: the worker exits after this long with no run queued or running
    warm_preload: tuple[str, ...] = ()  # local: modules the worker imports; () = its defaults
    address: str = "auto"               # ray: "auto", "ray://host:10001" or "http://host:8265"
    shared_dir: bool = False            # ray: the lab directory is mounted at the same path on every node
    python: str = "python"              # ray: the interpreter on the cluster's nodes
    forward_env: tuple[str, ...] = ()   # ray: variables of the engine's environment the jobs also get
    return_max_mb: int = 256            # ray: largest outputs a job sends back (streamed mode)


@dataclass(frozen=True)
class LabConfig:
    slots: SlotConfig = field(default_factory=SlotConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    timeout_s: float = 3600.0
    mem_limit_mb: int = 0
    retries: int = 1
    monitor_interval_s: float = 1.0
    system_history: int = 3600
    min_free_mb: int = 100          # no run starts while the lab's disk has less free
    sections: dict[str, Any] = field(default_factory=dict)  # the raw file, for other rooms

    def run_defaults(self) -> RunDefaults:
        return RunDefaults(
            timeout_s=self.timeout_s or None,
            mem_limit_bytes=self.mem_limit_mb * 1024 * 1024 if self.mem_limit_mb else None,
            max_attempts=1 + self.retries,
        )

    def section(self, name: str) -> dict[str, Any]:
        value = self.sections.get(name, {})
        return value if isinstance(value, dict) else {}


_get = config.get
_table = config.table


def _names(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
        raise ConfigError(f"{where}.{key} must be a list of names such as [\"PYTHONPATH\"], got {value!r}")
    return tuple(value)


def _executor(table: Any) -> ExecutorConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"[executor] must be a table, got {table!r}")
    kind = table.get("kind", "local")
    if kind not in EXECUTOR_KINDS:
        raise ConfigError(f"executor.kind must be one of {', '.join(map(repr, EXECUTOR_KINDS))}, got {kind!r}")
    address = _get(table, "address", str, "auto", "executor")
    if address != "auto" and "://" not in address and ":" not in address:
        raise ConfigError(f"executor.address must be \"auto\", \"ray://host:10001\", \"http://host:8265\" "
                          f"or \"host:port\", got {address!r}")
    return ExecutorConfig(
        kind=ExecutorKind(kind),
        warm=_get(table, "warm", bool, True, "executor"),
        warm_idle_s=float(_get(table, "warm_idle_s", float, 300.0, "executor", 0)),
        warm_preload=_names(table, "warm_preload", "executor"),
        address=address,
        shared_dir=_get(table, "shared_dir", bool, False, "executor"),
        python=_get(table, "python", str, "python", "executor") or "python",
        forward_env=_names(table, "forward_env", "executor"),
        return_max_mb=_get(table, "return_max_mb", int, 256, "executor", 1),
    )


def load_config(lab: LabDir) -> LabConfig:
    path: Path = lab.config
    raw = config.read(path)
    if not raw:
        return LabConfig()
    try:
        slots, runs, engine = (_table(raw, name) for name in ("slots", "runs", "engine"))
        gpus = slots.get("gpus", "auto")
        if gpus == "auto":
            gpus = None
        elif not (isinstance(gpus, list) and all(isinstance(g, int) and g >= 0 for g in gpus)):
            raise ConfigError(f"slots.gpus must be \"auto\" or a list of GPU indices, got {gpus!r}")
        return LabConfig(
            slots=SlotConfig(
                cpu=_get(slots, "cpu", int, 2, "slots", 0),
                gpus=gpus,
                per_gpu=_get(slots, "per_gpu", int, 1, "slots", 1),
                threads_per_run=_get(slots, "threads_per_run", int, 0, "slots", 0),
            ),
            timeout_s=float(_get(runs, "timeout_s", (int, float), 3600, "runs", 0)),
            mem_limit_mb=_get(runs, "mem_limit_mb", int, 0, "runs", 0),
            retries=_get(runs, "retries", int, 1, "runs", 0),
            monitor_interval_s=float(_get(engine, "monitor_interval_s", (int, float), 1.0, "engine", 0.1)),
            system_history=_get(engine, "system_history", int, 3600, "engine", 10),
            min_free_mb=_get(engine, "min_free_mb", int, 100, "engine", 0),
            executor=_executor(raw.get("executor", {})),
            sections=raw,
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
