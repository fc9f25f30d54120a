"""Starting, stopping and asking after the engine of a lab directory, from any client process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil

from contract import units
from contract.layout import LabDir
from db import EngineRow, Store
from db.control import LabSettings
from engine import procs
from engine.config import load_config
from engine.executors.warm import WORKER_MODULE
from engine.lock import EngineAlreadyRunningError, EngineLock, holder


class EngineError(RuntimeError):
    """The engine could not be started or stopped; the message says why."""


@dataclass
class EngineStatus:
    running: bool
    pid: int | None
    started_at: float | None = None
    heartbeat_at: float | None = None
    rss_bytes: int | None = None         # the engine process alone (None: not measurable here)
    worker_pid: int | None = None        # its warm worker, while one runs (it runs on demand)
    worker_rss_bytes: int | None = None

    def describe(self) -> str:
        if not self.running:
            return "engine: not running"
        since = units.when(self.started_at or None)
        text = f"engine: running (pid {self.pid}, since {since}, {units.size(self.rss_bytes)} resident)"
        if self.rss_bytes is None:
            return text  # another machine's engine, or not ours to read
        if self.worker_pid is None:
            return text + "; warm worker: not running (it starts when a run is queued)"
        return text + f"; warm worker: pid {self.worker_pid}, {units.size(self.worker_rss_bytes)} resident"


def runs_wait(settings: LabSettings, engine_running: bool) -> str | None:
    """Why queued runs do not start now, in words, for every reader (`lab status`, `lab run
    --wait`, the control room): no engine, a paused queue, or the engine's own word (an
    unreachable Ray cluster, no free slot: the scheduler's `set_runs_wait`). None: not held back."""
    if not engine_running:
        return "the engine is not running (`lab engine start` starts it)"
    if settings.paused:
        return "the queue is paused (`lab resume` resumes it)"
    return settings.runs_wait.reason if settings.runs_wait else None


def engine_pid(lab: LabDir) -> int | None:
    return holder(lab.lock)


async def engine_status(lab: LabDir, store: Store | None = None) -> EngineStatus:
    pid = engine_pid(lab)
    if pid is None:
        return EngineStatus(False, None)
    row: EngineRow | None = await store.engine_row() if store is not None else None
    status = EngineStatus(True, pid, row.started_at, row.heartbeat_at) if row and row.pid == pid \
        else EngineStatus(True, pid)
    status.rss_bytes = procs.rss(pid) if pid > 0 else None
    if status.rss_bytes is not None:
        worker = warm_worker_pid(pid)
        status.worker_pid, status.worker_rss_bytes = worker, procs.rss(worker) if worker else None
    return status


def warm_worker_pid(engine: int) -> int | None:
    """The engine's warm worker process, if one runs now."""
    try:
        for child in psutil.Process(engine).children():
            if WORKER_MODULE in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                return int(child.pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
    return None


def start_detached(lab: LabDir, wait_s: float = 10.0) -> int:
    """Start an engine in its own session (it outlives this process); returns its pid. It works
    in the lab's folder, not the caller's: a folder removed after the command (a temporary one)
    would fail every child the engine starts later (git, the report writer)."""
    lab.ensure()
    running = engine_pid(lab)
    if running:
        return running
    with open(lab.log, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "run", "--dir", str(lab.root), "--log-to-stderr"],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True,
            close_fds=True, cwd=lab.root,
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        pid = engine_pid(lab)
        if pid:
            return pid
        code = process.poll()
        if code is not None:
            pid = engine_pid(lab)
            if pid:
                return pid  # another client started one first
            raise EngineError(f"the engine exited at once (code {code}); see {lab.log}")
        time.sleep(0.02)
    raise EngineError(f"the engine did not start within {units.duration(wait_s)}; see {lab.log}")


def stop(lab: LabDir, wait_s: float = 15.0) -> int | None:
    """Ask the engine to stop (SIGTERM) and wait for it; returns the pid stopped, or None."""
    pid = engine_pid(lab)
    if not pid or pid < 0:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if engine_pid(lab) is None:
            return pid
        time.sleep(0.05)
    raise EngineError(f"the engine (pid {pid}) did not stop within {units.duration(wait_s)}")


def configure_logging(lab: LabDir, to_stderr_only: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if not to_stderr_only:
        handlers.append(logging.FileHandler(lab.log))
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_foreground(lab: LabDir, *, log_to_stderr_only: bool = False) -> int:
    """Run the engine in this process until SIGTERM/SIGINT; the exit code for the shell."""
    return asyncio.run(serve_foreground(lab, log_to_stderr_only=log_to_stderr_only))


async def serve_foreground(lab: LabDir, *, log_to_stderr_only: bool = False) -> int:
    """`run_foreground` for a caller that already runs an event loop (`lab engine run`)."""
    lab.ensure()
    configure_logging(lab, log_to_stderr_only)
    config = load_config(lab)
    lock = EngineLock(lab.lock)
    try:
        lock.acquire()
    except EngineAlreadyRunningError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1

    from engine.daemon import Engine  # the daemon's modules load only where the engine runs
    from engine.hooks import finishers

    try:
        store = await Store.open(lab.db)
        try:
            await Engine(lab, config, store, finishers=finishers()).serve()
        finally:
            await store.close()
    finally:
        lock.release()
    return 0
