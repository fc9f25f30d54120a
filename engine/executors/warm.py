"""The engine's side of the warm worker (`python -m experiments.worker`, see its docstring).

The worker is a child of the engine holding the other end of a pipe: it dies with the engine
(even a `kill -9`: its stdin closes), is restarted with a back-off when it dies while wanted, and
is asked to fork a run only when it is ready. The runs it forked are not its process group and
outlive it. Whenever it is absent, busy starting, or fails to answer, runs start cold.

It holds torch and the harness (~500 MB resident), so it runs only on demand: `start` when work
arrives (the local executor decides when, engine/executors/local.py), `stop` when there has been
none for a while; `start` again brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from contract import runfiles, units
from contract.warmworker import ForkRequest, MessageError, Ready, Refused, encode, parse_answer, parse_ready
from engine.runenv import run_environment

log = logging.getLogger("engine.warm")

WORKER_MODULE = "experiments.worker"
READY_TIMEOUT_S = 180.0     # importing torch on a loaded machine can take a while
REQUEST_TIMEOUT_S = 30.0
RESTART_BACKOFF_S = (1.0, 5.0, 30.0, 60.0)
STABLE_AFTER_S = 60.0       # a worker up this long resets the back-off
WAIT_FOR_READY_S = 20.0     # runs wait this long for a starting worker, then start cold


class WorkerState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    CLOSED = "closed"


W = WorkerState


class WorkerUnavailableError(Exception):
    """The worker could not fork this run (the caller starts it cold)."""


class WarmWorker:
    def __init__(self, module: str, preload: tuple[str, ...], *, cwd: Path,
                 python: str = sys.executable, on_change: Callable[[], None] = lambda: None) -> None:
        self.module = module
        self.preload = preload
        self.cwd = cwd
        self.python = python
        self.on_change = on_change
        self.state = W.STOPPED
        self.pid: int | None = None
        self.info: Ready | None = None
        self.starts = 0
        self.forks = 0           # runs forked by the current process
        self.ready_in_s = 0.0    # how long the current process took to get ready
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0
        self._started_at = 0.0
        self._failures = 0
        self._supervisor: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def wanted(self) -> bool:
        """True from `start` until `stop` (starting, ready, or waiting to be restarted)."""
        return self._supervisor is not None and not self._supervisor.done()

    def start(self) -> None:
        """Start the worker and keep it running (in the background) until `stop` or `close`.
        It counts as starting from this call on, so runs scheduled right after wait for it."""
        if self.state == W.CLOSED or self.wanted:
            return
        self.state = W.STARTING
        self._started_at = time.monotonic()
        self._supervisor = asyncio.ensure_future(self._supervise())
        self._supervisor.set_name("warm worker")

    async def stop(self) -> None:
        """Let the worker's process go (its stdin closes); `start` brings a new one."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await supervisor
        await self._stop_process()
        if self.state != W.CLOSED:
            self.state = W.STOPPED
            self.pid = None
            self.on_change()

    async def close(self) -> None:
        self.state = W.CLOSED
        await self.stop()

    def starting_for(self) -> float | None:
        """Seconds the worker has been starting, or None when it is not starting."""
        return time.monotonic() - self._started_at if self.state == W.STARTING else None

    @property
    def closed(self) -> bool:
        """Whether the worker was closed (read afresh after each await: `close` may run meanwhile)."""
        return self.state == W.CLOSED

    async def _supervise(self) -> None:
        while not self.closed:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("warm worker failed: %s", exc)
            await self._stop_process()
            if self.closed:
                return
            up = time.monotonic() - self._started_at
            self._failures = 0 if up >= STABLE_AFTER_S else self._failures + 1
            delay = RESTART_BACKOFF_S[min(self._failures, len(RESTART_BACKOFF_S) - 1)]
            self.state = W.STOPPED
            self.on_change()
            log.info("warm worker gone; restarting it in %.0f s (runs start cold meanwhile)", delay)
            await asyncio.sleep(delay)

    def _command(self) -> list[str]:
        cmd = [self.python, "-m", WORKER_MODULE, "--module", self.module]
        for name in self.preload:
            cmd += ["--preload", name]
        return cmd

    async def _run_once(self) -> None:
        self.state = W.STARTING
        self._started_at = time.monotonic()
        self.starts += 1
        # the worker's own environment holds no secret and no GPU: CUDA is never initialised in
        # it, and each run gets its own environment (and device) in the fork
        env = run_environment(threads=1, cuda_device=None, cache_dir=os.environ.get("JOULELAB_CACHE", ""))
        self.forks = 0
        self._proc = await asyncio.create_subprocess_exec(
            *self._command(), cwd=self.cwd, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=None, limit=1 << 20)
        self.pid = self._proc.pid
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), READY_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"not ready after {units.duration(READY_TIMEOUT_S)}") from None
        try:
            info = parse_ready(line)
        except MessageError as exc:
            raise RuntimeError(str(exc)) from None
        if info is None:
            raise RuntimeError(f"exited before it was ready (code {await self._proc.wait()})")
        self.info = info
        self.ready_in_s = time.monotonic() - self._started_at
        self.state = W.READY
        log.info("warm worker ready (pid %d, %d modules in %.1f s%s; codecarbon %s)", self.pid,
                 info.imported, info.seconds,
                 f"; could not import {', '.join(info.failed)}" if info.failed else "", info.codecarbon)
        self.on_change()
        code = await self._proc.wait()
        if self.state != W.CLOSED:
            log.warning("warm worker (pid %d) exited with code %s", self.pid, code)

    async def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the worker leaves when its stdin closes
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    # -- runs -------------------------------------------------------------------------------

    async def fork(self, run_dir: Path, argv: list[str], env: dict[str, str]) -> tuple[int, float | None]:
        """Fork a run in `run_dir`; (pid, start time). Raises WorkerUnavailableError."""
        proc = self._proc
        if self.state != W.READY or proc is None or proc.stdin is None or proc.stdout is None:
            raise WorkerUnavailableError(f"the warm worker is {self.state}")
        async with self._lock:
            self._next_id += 1
            request = ForkRequest(id=self._next_id, argv=argv, cwd=str(run_dir), env=env,
                                  stdout=str(run_dir / runfiles.STDOUT), stderr=str(run_dir / runfiles.STDERR))
            try:
                proc.stdin.write(encode(request).encode())
                await proc.stdin.drain()
                line = await asyncio.wait_for(proc.stdout.readline(), REQUEST_TIMEOUT_S)
                answer = parse_answer(line)
            except (OSError, TimeoutError, ConnectionError, MessageError) as exc:
                await self._give_up(f"no answer ({type(exc).__name__}: {exc})")
                raise WorkerUnavailableError("the warm worker did not answer") from None
            if answer.id != self._next_id:
                await self._give_up(f"answer out of order: {answer!r}")
                raise WorkerUnavailableError("the warm worker answered out of order")
            if isinstance(answer, Refused):
                raise WorkerUnavailableError(answer.error)
            self.forks += 1
            return answer.pid, answer.start_time

    async def _give_up(self, why: str) -> None:
        log.warning("warm worker (pid %s): %s; restarting it", self.pid, why)
        self.state = W.STOPPED
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()

