"""The engine: one per lab directory. This module is its lifecycle and its loop; each duty
lives in its own module, composed here:

- scheduler.py: which queued runs start now, and where (slots per device);
- launcher.py: a run's spec, its record as running, its process or job;
- watcher.py: ingesting running runs' events, their time and memory limits, settling ended runs;
- recovery.py: what a starting engine repairs (re-attach, settle, interrupt orphans);
- finisher.py: concluding an experiment (validate, conclude, commit to git);
- requests.py: the requests other processes write, one handler per kind.

Every state change is committed to the database before it is acted on (pueue's rule), so an
engine killed at any moment is repaired by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import VERSION, layout
from contract.codesnap import CodeHasher
from contract.diskspace import DiskWatch, is_full
from contract.layout import LabDir
from db import Run, Store
from db.watch import ChangeWatcher, WalNotifier
from engine.config import LabConfig
from engine.executors import make_executors
from engine.finisher import ExperimentFinisher
from engine.gpus import Gpus
from engine.hooks import background_tasks
from engine.launcher import Launcher
from engine.monitor import SystemMonitor
from engine.ports import FinishStep
from engine.recovery import Recovery
from engine.requests import RequestHandler
from engine.scheduler import Scheduler
from engine.slots import Slots
from engine.watcher import RunWatcher
from records.git import Recorder

log = logging.getLogger("engine")

WATCH_INTERVAL_S = 0.02   # how often the database is checked for requests when inotify is missing
WATCH_FALLBACK_S = 0.5    # with inotify: a safety net in case a notification was missed
POLL_INTERVAL_S = 0.2     # how often runs are ingested and checked
MEMORY_INTERVAL_S = 0.5   # how often resident memory of runs is measured
RECORD_RETRY_S = 30.0     # a failed git commit of an experiment is retried this often
ERROR_BACKOFF_S = 1.0
OWN_RECORDS = "the engine's bookkeeping (run states, heartbeat, samples)"
OWN_RECORDS_BYTES = 2**20
STOP_GRACE_S = 10.0       # on SIGTERM, how long analyses and commits in flight may still take

@dataclass
class Deadlines:
    """When (monotonic seconds) each periodic duty of the loop is next due."""

    watch: float = 0.0
    poll: float = 0.0
    memory: float = 0.0
    monitor: float = 0.0
    record_retry: float = 0.0


def default_cache_dir() -> str:
    return str(layout.cache_dir())


class Engine:
    def __init__(self, lab: LabDir, config: LabConfig, store: Store, *,
                 experiments_module: str | None = None,
                 finishers: list[FinishStep] | None = None) -> None:
        self.lab = lab
        self.config = config
        self.store = store
        self.module = experiments_module or os.environ.get("JOULELAB_EXPERIMENTS_MODULE") or "experiments"
        self.gpus = Gpus()
        gpu_indices = config.slots.gpus if config.slots.gpus is not None else list(range(self.gpus.count()))
        self.slots = Slots(config.slots, gpu_indices)
        self.paused = False
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # set by database writes of other processes and by stop()
        self.executor, self.executors = make_executors(config, self.module, lab.root)
        self._executor_changed = False  # e.g. the warm worker got ready: queued runs may start
        for executor in self.executors.values():
            executor.on_change = self._on_executor_change
        self._tasks: set[asyncio.Task[Any]] = set()
        self._long_lived: set[asyncio.Task[Any]] = set()  # run until the engine stops
        self.cache_dir = default_cache_dir()
        # a full disk: what waits for space, said in disk.notice and the log; runs start only with
        # [engine] min_free_mb free
        self.disk = DiskWatch(lab.root, lab.disk_notice, config.min_free_mb * 2**20, say=log.warning)
        self.recorder = Recorder(lab, store, self.module, disk=self.disk)
        self.finisher = ExperimentFinisher(store, finishers if finishers is not None else [], self.recorder,
                                           spawn=self.spawn_task, stopping=self._stopping.is_set, disk=self.disk)
        ended = self.finisher.analyze
        self.watcher = RunWatcher(store, self.slots, spawn=self.spawn_task, on_experiment_ended=ended,
                                  disk=self.disk)
        self.launcher = Launcher(store, lab, config, self.slots, module=self.module, cache_dir=self.cache_dir,
                                 code=CodeHasher(self.module), on_experiment_ended=ended)
        self.scheduler = Scheduler(store, lab, self.slots, launch=self._launch,
                                   unavailable=self._why_runs_wait, on_experiment_ended=ended,
                                   demand=self._demand)
        self.recovery = Recovery(store, lab, config, self.executors, self.slots, self.watcher,
                                 on_experiment_ended=ended)
        self.requests = RequestHandler(self)

    # -- what plug-ins see (engine.ports.EngineControl) -----------------------------------------

    @property
    def lab_root(self) -> Path:
        return self.lab.root

    @property
    def cpu_slots(self) -> int:
        return self.slots.cpu_slots

    async def cancel_run_process(self, run_id: int, reason: str) -> bool:
        return await self.watcher.cancel(run_id, reason)

    def warm_up(self) -> str:
        return self.executor.warm_up()

    # -- the executors' warm resources (the warm worker runs only on demand) ----------------

    def _on_executor_change(self) -> None:
        self._executor_changed = True
        self._wake.set()

    async def _demand(self, queued: int) -> None:
        """Tell each executor the work there is: queued runs (none while paused or stopping: they
        would not start) and the runs running on it."""
        if self.paused or self._stopping.is_set():
            queued = 0
        for executor in self.executors.values():
            running = sum(1 for a in self.watcher.active.values() if a.executor is executor)
            await executor.demand(queued if executor is self.executor else 0, running)

    # -- lifecycle --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop scheduling and leave; runs keep going (they are detached)."""
        log.info("stopping: runs are left running and will be re-attached by the next engine")
        self._stopping.set()
        self._wake.set()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        self.disk.start()
        await self.store.engine_started(os.getpid(), socket.gethostname(), VERSION)
        log.info("engine %s started for %s (pid %d); slots: %d cpu, gpus %s", VERSION, self.lab.root,
                 os.getpid(), self.slots.cpu_slots, self.slots.gpu_indices or "none")
        watcher = ChangeWatcher(self.lab.db)
        notifier = WalNotifier(self.lab.db)
        if notifier.available:
            def on_wal_change() -> None:
                if notifier.drain():
                    self._wake.set()

            loop.add_reader(notifier.fileno(), on_wal_change)
        # without inotify the database is polled; with it, polling is only a safety net
        watch_interval = WATCH_FALLBACK_S if notifier.available else WATCH_INTERVAL_S
        monitor = SystemMonitor(self.store, self.gpus, self.config.system_history)
        try:
            await self._start_work()
            await self._loop(watcher, monitor, watch_interval)
        finally:
            if notifier.available:
                loop.remove_reader(notifier.fileno())
            notifier.close()
            watcher.close()
            self.gpus.close()
            await self._finish_tasks()
            for executor in self.executors.values():
                await executor.close()
            await self.store.engine_stopped(os.getpid())
            log.info("engine stopped; %d run(s) left running", len(self.watcher.active))

    async def _start_work(self) -> None:
        """Open the executors, re-attach what a previous engine left, then start what waits."""
        for executor in self.executors.values():
            await executor.open()
        await self.recovery.recover()
        self.spawn_task(self.recorder.record_pending(), "commit unrecorded experiments")
        await self._react()
        for name, task in background_tasks(self):  # e.g. research sprints, when switched on
            self.spawn_task(task, name, long_lived=True)

    async def _loop(self, watcher: ChangeWatcher, monitor: SystemMonitor, watch_interval: float) -> None:
        """Turn until stopped; a failed turn is logged and retried after a pause."""
        due = Deadlines()
        while not self._stopping.is_set():
            try:
                await self._tick(watcher, monitor, watch_interval, due)
                self.disk.done(OWN_RECORDS)
            except (sqlite3.OperationalError, OSError) as exc:
                # a locked or full database, a full disk: nothing is lost (offsets and states
                # are committed with their data), so wait and try again
                if is_full(exc):
                    self.disk.full(OWN_RECORDS, OWN_RECORDS_BYTES)
                else:
                    log.error("engine loop: %s; retrying in %.0f s", exc, ERROR_BACKOFF_S)
                await asyncio.sleep(ERROR_BACKOFF_S)
            except Exception:
                log.exception("engine loop failed; retrying in %.0f s", ERROR_BACKOFF_S)
                await asyncio.sleep(ERROR_BACKOFF_S)

    async def _tick(self, watcher: ChangeWatcher, monitor: SystemMonitor, watch_interval: float,
                    due: Deadlines) -> None:
        """One turn of the loop: react to other processes, watch runs, sample, then sleep."""
        now = time.monotonic()
        if self._wake.is_set() or now >= due.watch:
            self._wake.clear()
            due.watch = now + watch_interval
            if watcher.changed():
                await self._react()
        if now >= due.poll:
            due.poll = now + POLL_INTERVAL_S
            check_memory = now >= due.memory
            if check_memory:
                due.memory = now + MEMORY_INTERVAL_S
            if self.watcher.active and await self.watcher.poll(check_memory):
                await self.schedule()
        if self._executor_changed:
            self._executor_changed = False
            await self.schedule()
        if now >= due.monitor:
            due.monitor = now + self.config.monitor_interval_s
            if self.disk.poll():  # space came back while work waited for it: retry that work now
                due.record_retry = now
                self.finisher.retry_waiting()
                await self.schedule()
            await monitor.sample()
            await self.store.engine_heartbeat(os.getpid())
            await self._demand(self.scheduler.waiting)  # the warm worker's idle time
        if self.recorder.failed and now >= due.record_retry:
            due.record_retry = now + RECORD_RETRY_S
            for exp_id in sorted(self.recorder.failed):
                await self.recorder.record_safe(exp_id)
        deadline = min(due.watch, due.monitor, due.poll if self.watcher.active else due.watch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - time.monotonic()))

    async def _react(self) -> None:
        """Someone wrote to the database: handle their requests, then start what can start."""
        await self.requests.handle_pending()
        self.paused = (await self.store.settings()).paused
        await self.schedule()

    async def _finish_tasks(self) -> None:
        """Let analysis and commits in flight end (briefly), then cancel the rest: whatever is
        cut short is redone by the next engine (analyzing experiments, unrecorded ones)."""
        for task in self._long_lived:
            task.cancel()
        pending = [t for t in self._tasks if not t.done() and t not in self._long_lived]
        if pending:
            log.info("waiting up to %.0f s for %d task(s) to finish", STOP_GRACE_S, len(pending))
            await asyncio.wait(pending, timeout=STOP_GRACE_S)
        for task in list(self._tasks):
            task.cancel()

    def spawn_task(self, coro: Coroutine[Any, Any, Any], name: str, long_lived: bool = False) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        if long_lived:
            self._long_lived.add(task)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._long_lived.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed: %r", task.get_name(), task.exception(), exc_info=task.exception())

    # -- scheduling -------------------------------------------------------------------------

    async def schedule(self) -> None:
        if self.paused or self._stopping.is_set():
            return
        await self.scheduler.schedule()

    def _why_runs_wait(self) -> str | None:
        """Why no run may start now: a full disk (what runs write must fit), or the executor's reason."""
        if not self.disk.room_for_runs():
            return self.disk.why_runs_wait()
        return self.executor.unavailable()

    async def _launch(self, run: Run, device: str) -> None:
        active = await self.launcher.launch(run, device, self.executor)
        if active is not None:
            await self.watcher.started(active)
