"""Runs as detached processes on this machine: forked from the warm worker when it is ready,
otherwise spawned cold (`engine.runner.spawn`). Either way a run leads its own session and
process group, writes its pid and exit code to its directory, and is found again after an
engine restart by pid + process start time.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from subprocess import Popen
from typing import Any

from contract import runfiles
from engine import procs, runner
from engine.config import ExecutorConfig
from engine.executors.base import Executor, Exit, Launch, LaunchError, RunHandle
from engine.executors.warm import WAIT_FOR_READY_S, WarmWorker, WorkerUnavailable
from engine.runenv import run_environment
from engine.slots import cuda_index

log = logging.getLogger("engine.local")

VANISHED = "the run ended while no engine watched it, without an exit code"


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, config: ExecutorConfig, module: str, *, cwd: Path, warm: bool | None = None,
                 python: str = sys.executable) -> None:
        super().__init__()
        self.module = module
        self.python = python
        use_warm = config.warm if warm is None else warm
        self.worker: WarmWorker | None = None
        if use_warm:
            self.worker = WarmWorker(module, config.warm_preload, cwd=cwd, python=python,
                                     on_change=lambda: self.on_change())

    async def open(self) -> None:
        if self.worker is not None:
            self.worker.start()

    async def close(self) -> None:
        if self.worker is not None:
            await self.worker.close()

    def unavailable(self) -> str | None:
        # runs wait briefly for a worker that is starting (they would compete with its imports
        # for the same cores), then start cold
        starting = self.worker.starting_for() if self.worker is not None else None
        if starting is not None and starting < WAIT_FOR_READY_S:
            return "the warm worker is starting"
        return None

    async def start(self, handle: RunHandle, launch: Launch) -> None:
        env = run_environment(threads=launch.threads, cuda_device=cuda_index(launch.device),
                              cache_dir=launch.cache_dir)
        if self.worker is not None and launch.module == self.module and self.worker.state == "ready":
            try:
                pid, started = await self.worker.fork(
                    launch.run_dir, [launch.module, launch.catalog, "--spec", runfiles.SPEC], env)
                handle.pid, handle.start_time, handle.how = pid, started or procs.start_time(pid), "warm"
                return
            except WorkerUnavailable as exc:
                log.warning("run %d: %s; starting it cold", launch.run_id, exc)
                # a fork that happened although its answer was lost must not run twice
                forked = runner.recorded_pid(launch.run_dir)
                if forked and procs.start_time(forked) is not None:
                    handle.pid, handle.start_time, handle.how = forked, procs.start_time(forked), "warm"
                    return
        try:
            spawned = runner.spawn(launch.run_dir, launch.module, launch.catalog, env, python=self.python)
        except OSError as exc:
            raise LaunchError(f"could not start the run: {exc}") from exc
        handle.pid, handle.start_time, handle.how = spawned.pid, spawned.start_time, "cold"
        handle.state = spawned.process

    def adopt(self, run: dict[str, Any], run_dir: Path) -> RunHandle:
        pid, started = run["pid"], run["pid_start_time"]
        if pid is None:  # the engine died between recording the start and the process
            pid = runner.recorded_pid(run_dir)
            started = procs.start_time(pid) if pid else None
        return RunHandle(run["id"], run["attempt"], run_dir, self.name, pid=pid, start_time=started,
                         how="re-attached")

    async def poll(self, handle: RunHandle) -> Exit | None:
        process = handle.state if isinstance(handle.state, Popen) else None
        if process is not None:
            code = process.poll()
            return None if code is None else Exit(code)
        if procs.is_same_process(handle.pid, handle.start_time):
            return None
        code = runner.recorded_exit_code(handle.run_dir)
        if code is not None:
            return Exit(code)
        return Exit(None, VANISHED)

    async def kill(self, handle: RunHandle) -> None:
        if handle.pid:
            await procs.kill_group(handle.pid)

    def memory(self, handle: RunHandle) -> int | None:
        return procs.tree_rss(handle.pid) if handle.pid else 0
