"""The engine: one per lab directory; schedules runs, watches them, ingests their events.

Every state change is committed to the database before it is acted on (pueue's rule), so an
engine killed at any moment is repaired by the next one: see `recover`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import layout
from db import RunState as R
from db import StaleIngest, Store
from db.watch import ChangeWatcher, WalNotifier
from engine import runner
from engine.codesnap import CodeHasher
from engine.config import LabConfig
from engine.executors import Executor, Exit, Launch, LaunchError, RunHandle, make_executors
from engine.gpus import Gpus
from engine.hooks import background_tasks, run_module
from engine.ingest import read_batch
from engine.labdir import LabDir
from engine.monitor import SystemMonitor
from engine.recorder import Recorder
from engine.slots import Slots

log = logging.getLogger("engine")

VERSION = "0.1.0"
WATCH_INTERVAL_S = 0.02   # how often the database is checked for requests when inotify is missing
WATCH_FALLBACK_S = 0.5    # with inotify: a safety net in case a notification was missed
POLL_INTERVAL_S = 0.2     # how often runs are ingested and checked
MEMORY_INTERVAL_S = 0.5   # how often resident memory of runs is measured
RECORD_RETRY_S = 30.0     # a failed git commit of an experiment is retried this often
ERROR_BACKOFF_S = 1.0
STOP_GRACE_S = 10.0       # on SIGTERM, how long analyses and commits in flight may still take
UNAVAILABLE_LOG_S = 60.0  # how often "cannot start runs now" is logged while it lasts

Finisher = Callable[[Store, int], Awaitable[None]]


@dataclass
class Deadlines:
    """When (monotonic seconds) each periodic duty of the loop is next due."""

    watch: float = 0.0
    poll: float = 0.0
    memory: float = 0.0
    monitor: float = 0.0
    record_retry: float = 0.0


@dataclass
class ActiveRun:
    """A run the engine watches: what the scheduler knows of it, and its executor's handle."""

    run_id: int
    experiment_id: int
    attempt: int
    device: str
    run_dir: Path
    started_at: float
    timeout_s: float | None
    mem_limit_bytes: int | None
    handle: RunHandle
    executor: Executor
    kill_reason: str | None = None  # "timeout", "memory", "cancel"
    kill_detail: str = ""
    peak_rss: int = 0


def default_cache_dir() -> str:
    return str(layout.cache_dir())


class Engine:
    def __init__(self, lab: LabDir, config: LabConfig, store: Store, *,
                 experiments_module: str | None = None,
                 finishers: list[Finisher] | None = None) -> None:
        self.lab = lab
        self.config = config
        self.store = store
        self.module = experiments_module or os.environ.get("JOULELAB_EXPERIMENTS_MODULE") or "experiments"
        self.gpus = Gpus()
        gpu_indices = config.slots.gpus if config.slots.gpus is not None else list(range(self.gpus.count()))
        self.slots = Slots(config.slots, gpu_indices)
        self.active: dict[int, ActiveRun] = {}
        self.finishers: list[Finisher] = finishers if finishers is not None else []
        self.paused = False
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # set by database writes of other processes and by stop()
        self.executor, self.executors = make_executors(config, self.module, lab.root)
        for executor in self.executors.values():
            executor.on_change = self._wake.set
        self._unavailable_logged = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._long_lived: set[asyncio.Task[Any]] = set()  # run until the engine stops
        self._analyzing: set[int] = set()
        self._analyze_again: set[int] = set()
        self.cache_dir = default_cache_dir()
        self.recorder = Recorder(lab, store, self.module)
        self.code = CodeHasher(self.module)
        from engine.requests import RequestHandler  # the handlers need the engine itself

        self.requests = RequestHandler(self)

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
            for executor in self.executors.values():
                await executor.open()
            await self.recover()
            await self._react()
            for name, task in background_tasks(self):  # e.g. research sprints, when switched on
                self.spawn_task(task, name, long_lived=True)
            due = Deadlines()
            while not self._stopping.is_set():
                try:
                    await self._tick(watcher, monitor, watch_interval, due)
                except (sqlite3.OperationalError, OSError) as exc:
                    # a locked or full database, a full disk: nothing is lost (offsets and states
                    # are committed with their data), so wait and try again
                    log.error("engine loop: %s; retrying in %.0f s", exc, ERROR_BACKOFF_S)
                    await asyncio.sleep(ERROR_BACKOFF_S)
                except Exception:
                    log.exception("engine loop failed; retrying in %.0f s", ERROR_BACKOFF_S)
                    await asyncio.sleep(ERROR_BACKOFF_S)
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
            log.info("engine stopped; %d run(s) left running", len(self.active))

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
            if self.active and await self.poll_runs(check_memory):
                await self.schedule()
        if now >= due.monitor:
            due.monitor = now + self.config.monitor_interval_s
            await monitor.sample()
            await self.store.engine_heartbeat(os.getpid())
        if self.recorder.failed and now >= due.record_retry:
            due.record_retry = now + RECORD_RETRY_S
            for exp_id in sorted(self.recorder.failed):
                await self.recorder.record_safe(exp_id)
        deadline = min(due.watch, due.monitor, due.poll if self.active else due.watch)
        try:
            await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            pass

    async def _react(self) -> None:
        """Someone wrote to the database: handle their requests, then start what can start."""
        await self.requests.handle_pending()
        self.paused = bool((await self.store.settings()).get("paused", False))
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

    def spawn_task(self, coro: Awaitable[Any], name: str, long_lived: bool = False) -> None:
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

    # -- recovery ---------------------------------------------------------------------------

    async def recover(self) -> None:
        """Re-attach to runs still alive, settle the ones that ended or vanished meanwhile."""
        for run in await self.store.list_runs(statuses=[R.RUNNING.value]):
            run_dir = Path(run["run_dir"] or self.lab.run_dir(run["id"]))
            executor = self.executors.get(run["executor"] or "local")
            if executor is None:
                await self._orphaned(run, run_dir)
                continue
            handle = executor.adopt(run, run_dir)
            active = ActiveRun(
                run_id=run["id"], experiment_id=run["experiment_id"], attempt=run["attempt"],
                device=run["device"] or "cpu", run_dir=run_dir, started_at=run["started_at"] or time.time(),
                timeout_s=run["timeout_s"], mem_limit_bytes=run["mem_limit_bytes"],
                handle=handle, executor=executor,
            )
            self.active[run["id"]] = active
            self.slots.take(active.device)
            if handle.pid and run["pid"] is None:
                await self.store.set_run_process(run["id"], handle.pid, handle.start_time or 0.0)
            if await executor.poll(handle) is None:
                where = f"pid {handle.pid}" if handle.pid else f"job {handle.job_id}"
                log.info("re-attached to run %d (%s)", run["id"], where)
                await self.store.add_event("run.reattached", f"run {run['id']} re-attached ({where})",
                                           experiment_id=run["experiment_id"], run_id=run["id"])
        await self.poll_runs(check_memory=False)
        for exp in await self.store.list_experiments(statuses=["analyzing"]):
            self.analyze(exp["id"])
        # finished but not committed (a crash between "done" and the commit): commit now
        self.spawn_task(self.recorder.record_pending(), "commit unrecorded experiments")

    async def _orphaned(self, run: dict[str, Any], run_dir: Path) -> None:
        """A run started by an executor this engine is not configured with (e.g. a Ray job after
        a switch back to local): it cannot be watched, so it is interrupted and retried here."""
        error = (f"the run was started on the {run['executor']} executor, which this engine does not "
                 f"use (config.toml [executor] kind = {self.config.executor.kind!r})")
        outcome = await self.store.finish_run(run["id"], R.INTERRUPTED, error=error, retryable=True)
        if outcome.experiment_finished:
            self.analyze(run["experiment_id"])

    # -- scheduling -------------------------------------------------------------------------

    async def schedule(self) -> None:
        if self.paused or self._stopping.is_set():
            return
        why_not = self.executor.unavailable()
        if why_not is not None:
            if time.monotonic() - self._unavailable_logged > UNAVAILABLE_LOG_S:
                self._unavailable_logged = time.monotonic()
                log.info("runs wait: %s", why_not)
            return
        for run in await self.store.queued_runs():
            if run["device_kind"] == "cuda" and not self.slots.has_gpus():
                await self._refuse(run, "needs a GPU but this lab has none (set [slots] gpus in "
                                        "config.toml, or run it with -p device=cpu)")
                continue
            device = self.slots.acquire(run["device_kind"])
            if device is None:
                continue
            try:
                await self.launch(run, device)
            except Exception:
                self.slots.release(device)
                raise

    async def _refuse(self, run: dict[str, Any], reason: str) -> None:
        await self.store.start_run(run["id"], device="none", run_dir=str(self.lab.run_dir(run["id"])))
        outcome = await self.store.finish_run(run["id"], R.FAILED, error=reason)
        if outcome.experiment_finished:
            self.analyze(run["experiment_id"])

    async def _dependencies(self, run: dict[str, Any]) -> dict[str, Any]:
        deps: dict[str, Any] = {}
        for dep_id in run["depends_on"]:
            dep = await self.store.get_run(dep_id)
            if dep is not None:
                deps[dep["variant"]] = {"run_id": dep_id, "output_dir": dep["run_dir"], "result": dep["result"]}
        return deps

    async def launch(self, run: dict[str, Any], device: str) -> None:
        run_dir = self.lab.run_dir(run["id"])
        attempt = run["attempt"] + 1
        if attempt > 1:
            runner.archive_previous_attempt(run_dir, attempt)
        threads = self.config.slots.threads()
        spec = {
            "protocol": 1, "run_id": run["id"], "experiment_id": run["experiment_id"], "attempt": attempt,
            "name": run["catalog"], "variant": run["variant"], "seed": run["seed"],
            "params": run["params"], "variant_params": run["variant_params"],
            "profile": run["params"].get("profile", "default"),
            "device": "cuda" if device.startswith("cuda") else "cpu", "threads": threads,
            "output_dir": str(run_dir), "events_path": str(run_dir / runner.EVENTS),
            "cache_dir": self.cache_dir, "dependencies": await self._dependencies(run),
            "code_sha256": self.code.current(),
        }
        runner.write_spec(run_dir, spec)
        launch = Launch(run_id=run["id"], attempt=attempt, catalog=run["catalog"],
                        module=run_module(run["catalog"], self.module), run_dir=run_dir, spec=spec,
                        device=device, threads=threads, mem_limit_bytes=run["mem_limit_bytes"],
                        cache_dir=self.cache_dir)
        executor = self.executor
        handle = executor.prepare(launch)
        # persisted before the run exists: a crash from here on is repaired by recover()
        await self.store.start_run(run["id"], device=device, run_dir=str(run_dir), executor=executor.name,
                                    job_id=handle.job_id)
        try:
            await executor.start(handle, launch)
        except LaunchError as exc:
            self.slots.release(device)
            status = R.INTERRUPTED if exc.retryable else R.FAILED
            outcome = await self.store.finish_run(run["id"], status, error=str(exc), retryable=exc.retryable)
            if outcome.experiment_finished:
                self.analyze(run["experiment_id"])
            return
        if handle.pid:
            await self.store.set_run_process(run["id"], handle.pid, handle.start_time or 0.0)
        self.active[run["id"]] = ActiveRun(
            run_id=run["id"], experiment_id=run["experiment_id"], attempt=attempt, device=device,
            run_dir=run_dir, started_at=time.time(), timeout_s=run["timeout_s"],
            mem_limit_bytes=run["mem_limit_bytes"], handle=handle, executor=executor,
        )
        where = f"pid {handle.pid}" if handle.pid else f"job {handle.job_id}"
        log.info("run %d (%s/%s seed %d) started on %s (%s, %s)", run["id"], run["catalog"],
                 run["variant"], run["seed"], device, handle.how or executor.name, where)

    # -- watching runs ----------------------------------------------------------------------

    async def ingest(self, active: ActiveRun, *, final: bool = False) -> None:
        run = await self.store.get_run(active.run_id)
        if run is None or run["attempt"] != active.attempt:
            return
        offset = run["ingest_offset"]
        while True:
            batch = read_batch(active.run_dir / runner.EVENTS, active.run_id, active.attempt, offset, final=final)
            if batch is None:
                return
            try:
                await self.store.ingest(batch)
            except StaleIngest as exc:
                log.warning("%s", exc)
                return
            offset = batch.offset_to

    async def poll_runs(self, check_memory: bool) -> bool:
        """Ingest every active run and settle those that ended; True when a slot came free."""
        freed = False
        now = time.time()
        for active in list(self.active.values()):
            ended = await active.executor.poll(active.handle)  # brings the run's files up to date
            await self.ingest(active)
            if ended is not None:
                await self.complete(active, ended)
                freed = True
                continue
            if active.kill_reason:
                continue
            if active.timeout_s and now - active.started_at > active.timeout_s:
                self.kill(active, "timeout", f"ran longer than its timeout of {active.timeout_s:g} s")
            elif check_memory and (rss := active.executor.memory(active.handle)) is not None:
                active.peak_rss = max(active.peak_rss, rss)
                if active.mem_limit_bytes and rss > active.mem_limit_bytes:
                    self.kill(active, "memory", f"out of memory: resident memory {rss / 2**20:.0f} MB "
                                                f"exceeded the limit of {active.mem_limit_bytes / 2**20:.0f} MB")
        return freed

    def kill(self, active: ActiveRun, reason: str, detail: str) -> None:
        active.kill_reason, active.kill_detail = reason, detail
        log.info("killing run %d: %s", active.run_id, detail)
        self.spawn_task(active.executor.kill(active.handle), f"kill run {active.run_id}")

    async def complete(self, active: ActiveRun, ended: Exit) -> None:
        await self.ingest(active, final=True)
        code = ended.code
        run = await self.store.get_run(active.run_id) or {}
        result = run.get("result")
        retryable = False
        error: str | None = None
        if active.kill_reason == "timeout":
            status, error = R.TIMED_OUT, active.kill_detail
        elif active.kill_reason == "memory":
            status, error = R.FAILED, active.kill_detail
        elif active.kill_reason == "cancel":
            status, error = R.CANCELLED, active.kill_detail
        elif code is None:
            status, error, retryable = R.INTERRUPTED, ended.detail or "the run ended without an exit code", True
        elif code == 0 and isinstance(result, dict):
            status = R.SKIPPED if result.get("skipped") else R.SUCCEEDED
            error = result.get("skip_reason") if result.get("skipped") else None
        elif code == 0:
            status, error, retryable = R.FAILED, "the program exited 0 without writing a result", True
        else:
            why = runner.last_error_line(active.run_dir) or "no message on stderr"
            status, error, retryable = R.FAILED, f"exit code {code}: {why}", True
        if active.peak_rss:
            await self.store.set_run_peak_rss(active.run_id, active.peak_rss)
        outcome = await self.store.finish_run(active.run_id, status, exit_code=code, error=error,
                                              retryable=retryable)
        self.active.pop(active.run_id, None)
        self.slots.release(active.device)
        log.info("run %d %s%s", active.run_id, status.value, f": {error}" if error else "")
        if outcome.experiment_finished:
            self.analyze(active.experiment_id)

    # -- experiments --------------------------------------------------------------------------

    def analyze(self, exp_id: int) -> None:
        """All runs of an experiment ended: validate, rate and record it, in the background."""
        if exp_id in self._analyzing:
            # still busy with an earlier round (e.g. writing its report) when retried runs ended
            # again: analyse once more as soon as that round is over
            self._analyze_again.add(exp_id)
            return
        self._analyzing.add(exp_id)
        self.spawn_task(self._analyze(exp_id), f"analyse experiment {exp_id}")

    async def _analyze(self, exp_id: int) -> None:
        from engine.analysis import conclude  # keeps start-up light

        try:
            for finisher in self.finishers:
                await finisher(self.store, exp_id)
            await conclude(self.store, exp_id)
            await self.recorder.record_safe(exp_id)
        finally:
            self._analyzing.discard(exp_id)
            if exp_id in self._analyze_again and not self._stopping.is_set():
                self._analyze_again.discard(exp_id)
                self.analyze(exp_id)

    async def cancel_run_process(self, run_id: int, reason: str) -> bool:
        """Kill a running run for a cancel; False when it is not running here."""
        active = self.active.get(run_id)
        if active is None:
            return False
        if not active.kill_reason:
            self.kill(active, "cancel", reason)
        return True
