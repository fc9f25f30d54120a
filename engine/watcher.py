"""Watching running runs: ingest their events, enforce their limits, settle those that ended.

`settle` is how an ended run is judged (no I/O): a kill by the engine names its reason; an exit
without a code (the process vanished) is interrupted and retried; exit 0 needs a result; any
other exit fails with the program's `error` event, or else the last line of its stderr.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract import runfiles, units
from contract.diskspace import DiskWatch
from db import RunState as R
from db import StaleIngestError, Store
from engine import detached_run
from engine.active import ActiveRun
from engine.executors import Exit
from engine.ingest import read_batch
from engine.ports import OnExperimentEnded, Spawn
from engine.slots import Slots

log = logging.getLogger("engine.watcher")

INGEST_OVERHEAD_BYTES = 64 * 1024  # a transaction's pages beyond its rows (an estimate, for the disk notice)


@dataclass(frozen=True)
class Settlement:
    status: R
    error: str | None = None
    retryable: bool = False


def settle(kill_reason: str | None, kill_detail: str, ended: Exit, result: Any,
           last_error: Callable[[], str | None]) -> Settlement:
    """The final state of an ended run, from why the engine killed it (if it did), its exit and
    its result; `last_error` is asked only when the program failed."""
    if kill_reason == "timeout":
        return Settlement(R.TIMED_OUT, kill_detail)
    if kill_reason == "memory":
        return Settlement(R.FAILED, kill_detail)
    if kill_reason == "cancel":
        return Settlement(R.CANCELLED, kill_detail)
    code = ended.code
    if code is None:
        return Settlement(R.INTERRUPTED, ended.detail or "the run ended without an exit code", True)
    if code == 0 and isinstance(result, dict):
        if result.get("skipped"):
            return Settlement(R.SKIPPED, result.get("skip_reason"))
        return Settlement(R.SUCCEEDED)
    if code == 0:
        return Settlement(R.FAILED, "the program exited 0 without writing a result", True)
    return Settlement(R.FAILED, f"exit code {code}: {last_error() or 'no message on stderr'}", True)


class RunWatcher:
    """The runs this engine watches (`active`, by run id) and what happens to them."""

    def __init__(self, store: Store, slots: Slots, *, spawn: Spawn, on_experiment_ended: OnExperimentEnded,
                 disk: DiskWatch) -> None:
        self.disk = disk
        self.store = store
        self.slots = slots
        self.active: dict[int, ActiveRun] = {}
        self._spawn = spawn
        self._ended = on_experiment_ended

    def watch(self, active: ActiveRun) -> None:
        self.active[active.run_id] = active

    async def started(self, active: ActiveRun) -> None:
        """Watch a run just started, then record its process: watched first, so that a write
        failing here (a full disk) leaves the run watched, its record retried at the next poll."""
        self.watch(active)
        await self.record_process(active)

    async def record_process(self, active: ActiveRun) -> None:
        """The run's pid and what its start cost beyond the usual (a cold start, a wait for the
        warm worker) into the store, once."""
        if active.process_recorded:
            return
        handle = active.handle
        with self.disk.needs(f"recording the start of run {active.run_id}", INGEST_OVERHEAD_BYTES):
            if handle.pid:
                await self.store.set_run_process(active.run_id, handle.pid, handle.start_time or 0.0)
            if handle.start_note:
                await self.store.add_event("run.start_cost", f"run {active.run_id}: {handle.start_note}",
                                           experiment_id=active.experiment_id, run_id=active.run_id)
        active.process_recorded = True

    async def ingest(self, active: ActiveRun, *, final: bool = False) -> None:
        """Bring the run's events into the store, from the offset it has committed."""
        run = await self.store.get_run(active.run_id)
        if run is None or run.attempt != active.attempt:
            return
        offset = run.ingest_offset
        while True:
            batch = read_batch(active.run_dir / runfiles.EVENTS, active.run_id, active.attempt, offset, final=final)
            if batch is None:
                return
            try:
                with self.disk.needs(f"the ingest of run {active.run_id}",
                                     4 * (batch.offset_to - batch.offset_from) + INGEST_OVERHEAD_BYTES):
                    await self.store.ingest(batch)
            except StaleIngestError as exc:
                log.warning("%s", exc)
                return
            offset = batch.offset_to

    async def poll(self, check_memory: bool) -> bool:
        """Ingest every active run and settle those that ended; True when a slot came free."""
        freed = False
        now = time.time()
        for active in list(self.active.values()):
            ended = await active.executor.poll(active.handle)  # brings the run's files up to date
            await self.ingest(active)
            await self.record_process(active)  # done at its start unless the disk was full then
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
                    self.kill(active, "memory", f"out of memory: resident memory {units.size(rss)} "
                                                f"exceeded the limit of {units.size(active.mem_limit_bytes)}")
        return freed

    def kill(self, active: ActiveRun, reason: str, detail: str) -> None:
        active.kill_reason, active.kill_detail = reason, detail
        log.info("killing run %d: %s", active.run_id, detail)
        self._spawn(active.executor.kill(active.handle), f"kill run {active.run_id}")

    async def cancel(self, run_id: int, reason: str) -> bool:
        """Kill a running run for a cancel; False when it is not running here."""
        active = self.active.get(run_id)
        if active is None:
            return False
        if not active.kill_reason:
            self.kill(active, "cancel", reason)
        return True

    async def complete(self, active: ActiveRun, ended: Exit) -> None:
        await self.ingest(active, final=True)
        run = await self.store.get_run(active.run_id)
        # the program's own `error` event (ingested into the run's error) says why it failed
        # better than the last line of its stderr
        s = settle(active.kill_reason, active.kill_detail, ended, run.result if run else None,
                   lambda: (run.error if run else None) or detached_run.last_error_line(active.run_dir))
        if active.peak_rss:
            await self.store.set_run_peak_rss(active.run_id, active.peak_rss)
        with self.disk.needs(f"recording the end of run {active.run_id}", INGEST_OVERHEAD_BYTES):
            outcome = await self.store.finish_run(active.run_id, s.status, exit_code=ended.code, error=s.error,
                                                  retryable=s.retryable)
        self.active.pop(active.run_id, None)
        self.slots.release(active.device)
        log.info("run %d %s%s", active.run_id, s.status.value, f": {s.error}" if s.error else "")
        if outcome.experiment_finished:
            self._ended(active.experiment_id)
