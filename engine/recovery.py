"""What a starting engine repairs: runs left by the previous one.

Every run recorded as running is re-attached when its process or job still lives, settled from
its files when it ended meanwhile (the watcher's next poll), and interrupted for a retry when it
belongs to an executor this engine is not configured with. Experiments left analysing are
concluded again. (Finished experiments that never reached git are the recorder's: the engine
starts `Recorder.record_pending` after this.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

from contract.layout import LabDir
from db import Run, Store
from db import RunState as R
from engine.active import ActiveRun
from engine.config import LabConfig
from engine.executors import Executor
from engine.ports import OnExperimentEnded
from engine.slots import Slots
from engine.watcher import RunWatcher

log = logging.getLogger("engine.recovery")


class Recovery:
    def __init__(self, store: Store, lab: LabDir, config: LabConfig, executors: Mapping[str, Executor],
                 slots: Slots, watcher: RunWatcher, *, on_experiment_ended: OnExperimentEnded) -> None:
        self.store = store
        self.lab = lab
        self.config = config
        self.executors = executors
        self.slots = slots
        self.watcher = watcher
        self._ended = on_experiment_ended

    async def recover(self) -> None:
        """Re-attach to runs still alive, settle the ones that ended or vanished meanwhile, and
        conclude the experiments that were being analysed."""
        for run in await self.store.list_runs(statuses=[R.RUNNING]):
            await self.reattach(run)
        await self.watcher.poll(check_memory=False)
        for exp in await self.store.list_experiments(statuses=["analyzing"]):
            self._ended(exp.id)

    async def reattach(self, run: Run) -> None:
        run_dir = Path(run.run_dir or self.lab.run_dir(run.id))
        executor = self.executors.get(run.executor or "local")
        if executor is None:
            await self.orphaned(run)
            return
        handle = executor.adopt(run, run_dir)
        active = ActiveRun(
            run_id=run.id, experiment_id=run.experiment_id, attempt=run.attempt,
            device=run.device or "cpu", run_dir=run_dir, started_at=run.started_at or time.time(),
            timeout_s=run.timeout_s, mem_limit_bytes=run.mem_limit_bytes,
            handle=handle, executor=executor, process_recorded=run.pid is not None,
        )
        self.slots.take(active.device)
        await self.watcher.started(active)
        if await executor.poll(handle) is None:
            where = f"pid {handle.pid}" if handle.pid else f"job {handle.job_id}"
            log.info("re-attached to run %d (%s)", run.id, where)
            await self.store.add_event("run.reattached", f"run {run.id} re-attached ({where})",
                                       experiment_id=run.experiment_id, run_id=run.id)

    async def orphaned(self, run: Run) -> None:
        """A run started by an executor this engine is not configured with (e.g. a Ray job after
        a switch back to local): it cannot be watched, so it is interrupted and retried here."""
        error = (f"the run was started on the {run.executor} executor, which this engine does not "
                 f"use (config.toml [executor] kind = {self.config.executor.kind.value!r})")
        outcome = await self.store.finish_run(run.id, R.INTERRUPTED, error=error, retryable=True)
        if outcome.experiment_finished:
            self._ended(run.experiment_id)
