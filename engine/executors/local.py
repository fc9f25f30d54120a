"""Runs as detached processes on this machine: forked from the warm worker when it is ready,
otherwise spawned cold (`engine.detached_run.spawn`). Either way a run leads its own session and
process group, writes its pid and exit code to its directory, and is found again after an
engine restart by pid + process start time.

The warm worker runs on demand (`demand`, told by the engine each turn): it is started when a
run is queued (or ahead of one, `warm_up`: the control room's new-experiment form), stays while
runs are queued or running here, and is stopped after `[executor] warm_idle_s` without any, so
an idle lab holds only the engine. A run that waited for it to start says so in its events.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from subprocess import Popen

from contract import runfiles, units
from db import Run
from engine import detached_run, procs
from engine.config import ExecutorConfig
from engine.executors.base import Executor, Exit, Launch, LaunchError, RunHandle
from engine.executors.warm import WAIT_FOR_READY_S, WarmWorker, WorkerState, WorkerUnavailableError
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
        self.idle_s = config.warm_idle_s
        self.worker: WarmWorker | None = None
        if use_warm:
            self.worker = WarmWorker(module, config.warm_preload, cwd=cwd, python=python,
                                     on_change=lambda: self.on_change())
        self._idle_since: float | None = None   # monotonic: since when nothing was queued or running
        self._queued_at: float | None = None    # monotonic: when a queued run started the worker

    async def close(self) -> None:
        if self.worker is not None:
            await self.worker.close()

    async def demand(self, queued: int, running: int) -> None:
        worker = self.worker
        if worker is None:
            return
        now = time.monotonic()
        if queued or running:
            self._idle_since = None
            if queued and not worker.wanted:
                log.info("starting the warm worker: %d run(s) queued", queued)
                self._queued_at = now
                worker.start()
            return
        if not worker.wanted:
            return
        if self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since >= self.idle_s:
            log.info("warm worker stopped: no run queued or running for %.0f s ([executor] warm_idle_s); "
                     "it starts again when a run is queued", now - self._idle_since)
            self._idle_since = None
            await worker.stop()

    def warm_up(self) -> str:
        worker = self.worker
        if worker is None:
            return "no warm worker here ([executor] warm = false): runs start cold"
        if self._idle_since is not None or not worker.wanted:
            self._idle_since = time.monotonic()  # its idle time counts from now
        if worker.wanted:
            return f"the warm worker is {worker.state}"
        log.info("starting the warm worker ahead of a run")
        self._queued_at = None
        worker.start()
        return f"the warm worker is starting (it stops after {self.idle_s:g} s without a queued run)"

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
        if self.worker is not None and launch.module == self.module and self.worker.state == WorkerState.READY:
            try:
                pid, started = await self.worker.fork(
                    launch.run_dir, [launch.module, launch.catalog, "--spec", runfiles.SPEC], env)
                handle.pid, handle.start_time, handle.how = pid, started or procs.start_time(pid), "warm"
                self._note_first_fork(handle)
                return
            except WorkerUnavailableError as exc:
                log.warning("run %d: %s; starting it cold", launch.run_id, exc)
                # a fork that happened although its answer was lost must not run twice
                forked = detached_run.recorded_pid(launch.run_dir)
                if forked and procs.start_time(forked) is not None:
                    handle.pid, handle.start_time, handle.how = forked, procs.start_time(forked), "warm"
                    return
        if self.worker is not None and self.worker.state == WorkerState.STARTING:
            handle.start_note = (f"started cold: the warm worker was still starting after "
                                 f"{units.duration(self.worker.starting_for() or 0.0)}")
        try:
            spawned = detached_run.spawn(launch.run_dir, launch.module, launch.catalog, env, python=self.python)
        except OSError as exc:
            raise LaunchError(f"could not start the run: {exc}") from exc
        handle.pid, handle.start_time, handle.how = spawned.pid, spawned.start_time, "cold"
        handle.state = spawned.process

    def _note_first_fork(self, handle: RunHandle) -> None:
        """The first run forked by a worker that a queued run started waited for that start."""
        worker = self.worker
        if worker is None or worker.forks != 1 or self._queued_at is None:
            return
        waited, self._queued_at = time.monotonic() - self._queued_at, None
        handle.start_note = (f"waited {units.duration(waited)} for the warm worker to start (torch and the harness "
                             f"imported in {units.duration(worker.ready_in_s)}; it stops after {self.idle_s:g} s "
                             f"without a queued or running run)")

    def adopt(self, run: Run, run_dir: Path) -> RunHandle:
        pid, started = run.pid, run.pid_start_time
        if pid is None:  # the engine died between recording the start and the process
            pid = detached_run.recorded_pid(run_dir)
            started = procs.start_time(pid) if pid else None
        return RunHandle(run.id, run.attempt, run_dir, self.name, pid=pid, start_time=started,
                         how="re-attached")

    async def poll(self, handle: RunHandle) -> Exit | None:
        process = handle.state if isinstance(handle.state, Popen) else None
        if process is not None:
            code = process.poll()
            return None if code is None else Exit(code)
        if procs.is_same_process(handle.pid, handle.start_time):
            return None
        code = detached_run.recorded_exit_code(handle.run_dir)
        if code is not None:
            return Exit(code)
        return Exit(None, VANISHED)

    async def kill(self, handle: RunHandle) -> None:
        if handle.pid:
            await procs.kill_group(handle.pid)

    def memory(self, handle: RunHandle) -> int | None:
        return procs.tree_rss(handle.pid) if handle.pid else 0
