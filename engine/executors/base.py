"""What the engine asks of an executor: start a run's attempt, find it again after a restart,
tell whether it ended and how, stop it, and measure it.

The engine (scheduler, timeouts, ingest, retries, cancel, the exactly-once offsets) is the same
for every executor: it writes `spec.json` and reads `events.jsonl`, `stdout` and `stderr` in the
run's directory. An executor's only duty is that those files are there, on this machine, while
the run goes on and complete when `poll` reports its end.

The order of a launch, each step committed before the next (so a crash anywhere is repaired by
`adopt` in the next engine): `prepare` gives the attempt's identity where it is known in advance
(a Ray job's id); the run is marked running on this executor with that identity; `start` starts
it; the pid it got, if any, is stored.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from contract.runspec import RunSpec
from db import Run


@dataclass(frozen=True)
class Launch:
    """One attempt of one run, as the scheduler hands it over."""

    run_id: int
    attempt: int
    catalog: str          # the catalog entry: the program's first argument
    module: str           # the program: `python -m <module> <catalog> --spec spec.json`
    run_dir: Path         # holds spec.json; gets events.jsonl, stdout, stderr
    spec: RunSpec         # what spec.json holds
    device: str           # "cpu" or "cuda:N" (the slot)
    threads: int
    mem_limit_bytes: int | None
    cache_dir: str


@dataclass
class RunHandle:
    """How an executor finds one attempt again. pid/start_time and job_id are stored on the run."""

    run_id: int
    attempt: int
    run_dir: Path
    executor: str
    pid: int | None = None
    start_time: float | None = None
    job_id: str | None = None
    how: str = ""                          # e.g. "cold", "warm", "ray job": for the log
    start_note: str = ""                   # what the start cost beyond the usual, for the run's events
    state: Any = field(default=None, repr=False)  # the executor's own (a Popen, a log stream)


@dataclass(frozen=True)
class Exit:
    """How a run ended: its exit code, or None when it vanished without one (then `detail`
    says what is known: an interrupted run, retried while attempts remain)."""

    code: int | None
    detail: str = ""


class LaunchError(Exception):
    """The run could not be started; `retryable` when trying again later may work."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Executor(abc.ABC):
    name: ClassVar[str]

    def __init__(self) -> None:
        self.on_change: Callable[[], None] = lambda: None  # wakes the engine (e.g. worker ready)

    async def open(self) -> None:  # noqa: B027 (optional: most executors need no start-up)
        """Called once when the engine starts (start a worker, connect to a cluster)."""

    async def close(self) -> None:  # noqa: B027 (optional: most executors hold nothing)
        """Called once when the engine stops. Runs are left running."""

    async def demand(self, queued: int, running: int) -> None:  # noqa: B027 (optional)
        """The engine's work, told every turn: runs queued (0 while the queue is paused) and runs
        running on this executor. An executor holding something warm starts it when runs are
        queued and lets it go after a while without work."""

    def warm_up(self) -> str:
        """Make the next run start fast (one is about to be queued); what was done, in words."""
        return f"nothing to warm up on the {self.name} executor"

    def unavailable(self) -> str | None:
        """Why no run can be started now (the scheduler waits), or None."""
        return None

    def prepare(self, launch: Launch) -> RunHandle:
        """The handle of an attempt about to start; nothing is started yet."""
        return RunHandle(launch.run_id, launch.attempt, launch.run_dir, self.name)

    @abc.abstractmethod
    async def start(self, handle: RunHandle, launch: Launch) -> None:
        """Start the attempt; fills the handle's pid where there is one. Raises LaunchError."""

    @abc.abstractmethod
    def adopt(self, run: Run, run_dir: Path) -> RunHandle:
        """The handle of a run found running in the database after a restart."""

    @abc.abstractmethod
    async def poll(self, handle: RunHandle) -> Exit | None:
        """None while the run goes on (its files brought up to date); its Exit once it ended
        and every file it wrote is complete here."""

    @abc.abstractmethod
    async def kill(self, handle: RunHandle) -> None:
        """Stop the run (timeout, memory, cancel); `poll` then reports its end."""

    def memory(self, handle: RunHandle) -> int | None:
        """Resident memory of the run in bytes, or None where it cannot be measured."""
        return None
