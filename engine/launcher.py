"""Starting one run: its spec (the run protocol's input), its record, its process or job.

The run is recorded as running (with its executor and job id) before it is started, so an engine
that dies in between finds it at the next start and re-attaches or settles it (engine/recovery.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from contract import runfiles
from contract.codesnap import CodeHasher
from contract.layout import LabDir
from contract.runspec import Dependency, DeviceKind, RunSpec
from db import Run, Store
from db import RunState as R
from engine import detached_run
from engine.active import ActiveRun
from engine.config import LabConfig
from engine.executors import Executor, Launch, LaunchError
from engine.hooks import run_module
from engine.ports import OnExperimentEnded
from engine.slots import Slots

log = logging.getLogger("engine.launcher")


def build_spec(run: Run, *, attempt: int, device: str, threads: int, run_dir: str,
               cache_dir: str, dependencies: dict[str, Dependency], code_sha256: str | None) -> RunSpec:
    """The spec a run's program reads (docs/PROTOCOL.md §3)."""
    return RunSpec(
        run_id=run.id, experiment_id=run.experiment_id, attempt=attempt,
        name=run.catalog, variant=run.variant, seed=run.seed,
        params=run.params, variant_params=run.variant_params,
        profile=profile if isinstance(profile := run.params.get("profile"), str) else "default",
        device=DeviceKind.CUDA if device.startswith(DeviceKind.CUDA) else DeviceKind.CPU, threads=threads,
        output_dir=run_dir, events_path=str(Path(run_dir) / runfiles.EVENTS),
        cache_dir=cache_dir, dependencies=dependencies, code_sha256=code_sha256,
    )


class Launcher:
    def __init__(self, store: Store, lab: LabDir, config: LabConfig, slots: Slots, *, module: str,
                 cache_dir: str, code: CodeHasher, on_experiment_ended: OnExperimentEnded) -> None:
        self.store = store
        self.lab = lab
        self.config = config
        self.slots = slots
        self.module = module
        self.cache_dir = cache_dir
        self.code = code
        self._ended = on_experiment_ended

    async def dependencies(self, run: Run) -> dict[str, Dependency]:
        """What the run's program is told of the runs it depends on, by their variant name."""
        deps: dict[str, Dependency] = {}
        for dep_id in run.depends_on:
            dep = await self.store.get_run(dep_id)
            if dep is not None:
                deps[dep.variant] = Dependency(run_id=dep_id, output_dir=dep.run_dir, result=dep.result)
        return deps

    async def launch(self, run: Run, device: str, executor: Executor) -> ActiveRun | None:
        """Start the run on `device` (its slot already taken); None when the executor could not
        start it (the run is then settled, the slot released). The run's process is not recorded
        here: the caller watches the run first (`RunWatcher.started`), so a write that fails now (a
        full disk) cannot leave a started run that no engine watches."""
        run_dir = self.lab.run_dir(run.id)
        attempt = run.attempt + 1
        if attempt > 1:
            detached_run.archive_previous_attempt(run_dir, attempt)
        threads = self.config.slots.threads()
        spec = build_spec(run, attempt=attempt, device=device, threads=threads, run_dir=str(run_dir),
                          cache_dir=self.cache_dir, dependencies=await self.dependencies(run),
                          code_sha256=self.code.current())
        detached_run.write_spec(run_dir, spec)
        launch = Launch(run_id=run.id, attempt=attempt, catalog=run.catalog,
                        module=run_module(run.catalog, self.module), run_dir=run_dir, spec=spec,
                        device=device, threads=threads, mem_limit_bytes=run.mem_limit_bytes,
                        cache_dir=self.cache_dir)
        handle = executor.prepare(launch)
        # persisted before the run exists: a crash from here on is repaired by the recovery
        await self.store.start_run(run.id, device=device, run_dir=str(run_dir), executor=executor.name,
                                    job_id=handle.job_id)
        try:
            await executor.start(handle, launch)
        except LaunchError as exc:
            self.slots.release(device)
            status = R.INTERRUPTED if exc.retryable else R.FAILED
            outcome = await self.store.finish_run(run.id, status, error=str(exc), retryable=exc.retryable)
            if outcome.experiment_finished:
                self._ended(run.experiment_id)
            return None
        where = f"pid {handle.pid}" if handle.pid else f"job {handle.job_id}"
        log.info("run %d (%s/%s seed %d) started on %s (%s, %s)", run.id, run.catalog,
                 run.variant, run.seed, device, handle.how or executor.name, where)
        return ActiveRun(
            run_id=run.id, experiment_id=run.experiment_id, attempt=attempt, device=device,
            run_dir=run_dir, started_at=time.time(), timeout_s=run.timeout_s,
            mem_limit_bytes=run.mem_limit_bytes, handle=handle, executor=executor,
        )
