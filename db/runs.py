"""Runs: the scheduler's queue, their lifecycle, dependency cascades and event ingest."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from contract.event_data import RUN_ARTIFACT, RUN_ERROR, ArtifactReported, RunEnded, RunFailure
from contract.events import Error
from db.core import Tx
from db.experiments import ExperimentsMixin, NotFoundError, add_event
from db.rows import Run, to_json
from db.states import (
    RUN_BAD,
    RUN_FINISHED,
    RUN_OK,
    IllegalTransitionError,
    check_run,
)
from db.states import (
    ExperimentState as E,
)
from db.states import (
    RunState as R,
)
from db.totals import QueueRun, RunCosts


class StaleIngestError(Exception):
    """The run's ingest offset moved under us (another engine?): nothing was written."""


@dataclass
class IngestBatch:
    """Everything read from one run's events file since its last committed offset."""

    run_id: int
    attempt: int
    offset_from: int
    offset_to: int
    metrics: list[tuple[int, str, float | None, float]] = field(default_factory=list)  # step,key,value,t
    progress: tuple[float, float] | None = None
    result: Mapping[str, object] | None = None  # the `result` event's values, stored as JSON
    logs: list[tuple[str, str]] = field(default_factory=list)  # (level, message)
    artifacts: list[tuple[str, str | None]] = field(default_factory=list)  # (path, kind)
    error: Error | None = None  # the `error` event: why the program failed, in its own words


@dataclass
class RunOutcome:
    """What finish_run did, so the engine can react (e.g. analyse a finished experiment)."""

    status: R
    requeued: bool = False
    experiment_finished: bool = False


class RunsMixin(ExperimentsMixin):
    async def get_run(self, run_id: int) -> Run | None:
        async with self.reading() as tx:
            return Run.maybe(await tx.one("SELECT * FROM runs WHERE id = ?", (run_id,)))

    async def list_runs(self, experiment_id: int | None = None,
                        statuses: list[str] | None = None) -> list[Run]:
        where: list[str] = []
        args: list[Any] = []
        if experiment_id is not None:
            where.append("experiment_id = ?")
            args.append(experiment_id)
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args += statuses
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        async with self.reading() as tx:
            return Run.many(await tx.all(sql, args))

    async def queued_runs(self) -> list[Run]:
        """Runs ready to start, the scheduler's order: priority, then age."""
        async with self.reading() as tx:
            return Run.many(await tx.all(
                "SELECT * FROM runs WHERE status = 'queued' ORDER BY priority DESC, queued_at, id"))

    async def start_run(self, run_id: int, *, device: str, run_dir: str, executor: str | None = None,
                        job_id: str | None = None) -> int:
        """Persist that the run is starting (before its process exists), and where: the executor
        and, for a Ray job, its id, so an engine that dies now re-attaches to it (or finds it
        never started); returns the attempt."""
        now = time.time()
        async with self.transaction() as tx:
            run = await self._require_run(tx, run_id)
            attempt = run.attempt + 1
            await self._set_run(tx, run, R.RUNNING, attempt=attempt, device=device, run_dir=run_dir,
                                started_at=now, finished_at=None, pid=None, pid_start_time=None,
                                exit_code=None, error=None, ingest_offset=0, progress_done=None,
                                executor=executor, job_id=job_id,
                                progress_total=None, result=None, peak_rss_bytes=None)
            exp = await self._require(tx, run.experiment_id)
            if exp.status == E.APPROVED:
                await self._set_status(tx, exp.id, E.RUNNING, started_at=now)
            await add_event(tx, "run.started", f"run {run_id} {run.variant} seed {run.seed} "
                            f"started on {device} (attempt {attempt})",
                            experiment_id=run.experiment_id, run_id=run_id)
            return attempt

    async def set_run_process(self, run_id: int, pid: int, start_time: float) -> None:
        async with self.transaction() as tx:
            await tx.run("UPDATE runs SET pid = ?, pid_start_time = ?, updated_at = ? WHERE id = ?",
                         (pid, start_time, time.time(), run_id))

    async def set_run_peak_rss(self, run_id: int, rss: int) -> None:
        async with self.transaction() as tx:
            await tx.run("UPDATE runs SET peak_rss_bytes = MAX(COALESCE(peak_rss_bytes, 0), ?) "
                         "WHERE id = ?", (rss, run_id))

    async def finish_run(self, run_id: int, status: R, *, exit_code: int | None = None,
                         error: str | None = None, retryable: bool = False) -> RunOutcome:
        """End the run's attempt; re-queue it when retryable and attempts remain; cascade."""
        async with self.transaction() as tx:
            run = await self._require_run(tx, run_id)
            if run.status != R.RUNNING:
                raise IllegalTransitionError(f"run {run_id} is {run.status}, not running")
            now = time.time()
            run = await self._set_run(tx, run, status, exit_code=exit_code, error=error, finished_at=now)
            detail = f": {error}" if error else ""
            await add_event(tx, f"run.{status.value}", f"run {run_id} {run.variant} seed "
                            f"{run.seed} {status.value}{detail}",
                            experiment_id=run.experiment_id, run_id=run_id,
                            data=RunEnded(exit_code, run.attempt))
            if retryable and run.attempt < run.max_attempts:
                await self._set_run(tx, run, R.QUEUED, queued_at=now)
                await add_event(tx, "run.retry", f"run {run_id} re-queued (attempt "
                                f"{run.attempt + 1} of {run.max_attempts})",
                                experiment_id=run.experiment_id, run_id=run_id)
                return RunOutcome(status, requeued=True)
            await self._cascade(tx, run_id)
            finished = await self._maybe_experiment_finished(tx, run.experiment_id)
            return RunOutcome(status, experiment_finished=finished)

    async def cancel_runs(self, run_ids: list[int], reason: str) -> list[int]:
        """Cancel runs that have not started or whose process the caller has killed."""
        touched: set[int] = set()
        async with self.transaction() as tx:
            # dependents first (they were created after their dependencies), so they are
            # cancelled rather than failed by the cascade
            for run_id in sorted(run_ids, reverse=True):
                run = await self._require_run(tx, run_id)
                if run.status in RUN_FINISHED:
                    continue
                await self._set_run(tx, run, R.CANCELLED, error=reason, finished_at=time.time())
                await add_event(tx, "run.cancelled", f"run {run_id} cancelled: {reason}",
                                experiment_id=run.experiment_id, run_id=run_id)
                await self._cascade(tx, run_id)
                touched.add(run.experiment_id)
        return sorted(touched)

    async def requeue_runs(self, exp_id: int) -> int:
        """Retry: every failed, timed-out, cancelled or interrupted run of the experiment goes
        back to the queue (or waits on its dependencies), with one more attempt allowed."""
        async with self.transaction() as tx:
            exp = await self._require(tx, exp_id)
            runs = Run.many(await tx.all("SELECT * FROM runs WHERE experiment_id = ? ORDER BY id", (exp_id,)))
            bad = [r for r in runs if r.status in RUN_BAD]
            if not bad:
                return 0
            if exp.status != E.RUNNING:
                # finished again later, it is committed again (its tag moves to the new record)
                await self._set_status(tx, exp_id, E.RUNNING, finished_at=None, git_sha=None)
            bad_ids = {r.id for r in bad}
            now = time.time()
            for run in bad:
                waits = any(d in bad_ids for d in run.depends_on)
                await self._set_run(tx, run, R.PENDING if waits else R.QUEUED, error=None,
                                    queued_at=None if waits else now,
                                    max_attempts=run.attempt + 1)
            await add_event(tx, "experiment.retry", f"experiment {exp_id}: {len(bad)} run(s) retried",
                            experiment_id=exp_id)
            return len(bad)

    async def set_priority(self, exp_id: int, priority: int) -> None:
        async with self.transaction() as tx:
            await self._require(tx, exp_id)
            await self._update(tx, exp_id, {"priority": priority})
            await tx.run("UPDATE runs SET priority = ? WHERE experiment_id = ?", (priority, exp_id))
            await add_event(tx, "experiment.priority", f"experiment {exp_id} priority {priority}",
                            experiment_id=exp_id)

    async def ingest(self, batch: IngestBatch) -> None:
        """Commit a batch of events together with the new byte offset: exactly once."""
        now = time.time()
        async with self.transaction() as tx:
            fields: dict[str, float | str | None] = {"ingest_offset": batch.offset_to, "updated_at": now}
            if batch.progress is not None:
                fields["progress_done"], fields["progress_total"] = batch.progress
            if batch.result is not None:
                fields["result"] = to_json(batch.result)
                energy = batch.result.get("energy_kwh")
                if isinstance(energy, (int, float)) and not isinstance(energy, bool) and \
                        math.isfinite(energy := float(energy)):
                    fields["energy_kwh"] = energy
                    mode = batch.result.get("energy_mode")
                    fields["energy_mode"] = mode if isinstance(mode, str) else None
            if batch.error is not None:
                fields["error"] = batch.error.summary()
            sets = ", ".join(f"{k} = ?" for k in fields)
            _, changed = await tx.run(
                f"UPDATE runs SET {sets} WHERE id = ? AND attempt = ? AND ingest_offset = ?",
                (*fields.values(), batch.run_id, batch.attempt, batch.offset_from))
            if changed != 1:
                raise StaleIngestError(f"run {batch.run_id} attempt {batch.attempt} is no longer at "
                                  f"offset {batch.offset_from}")
            if batch.metrics:
                await tx.many(
                    "INSERT INTO metrics (run_id, attempt, step, key, value, t) VALUES (?,?,?,?,?,?)",
                    [(batch.run_id, batch.attempt, step, key, value, t)
                     for step, key, value, t in batch.metrics])
            run = await self._require_run(tx, batch.run_id)
            for level, message in batch.logs:
                await add_event(tx, f"run.log.{level}", message, experiment_id=run.experiment_id,
                                run_id=batch.run_id)
            for path, kind in batch.artifacts:
                await add_event(tx, RUN_ARTIFACT, f"artifact {path}", experiment_id=run.experiment_id,
                                run_id=batch.run_id, data=ArtifactReported(path, kind))
            if batch.error is not None:
                await add_event(tx, RUN_ERROR, batch.error.summary(), experiment_id=run.experiment_id,
                                run_id=batch.run_id, data=RunFailure(batch.error.where, batch.error.traceback))

    async def metric_curve(self, run_id: int, keys: list[str] | None = None,
                           attempt: int | None = None) -> dict[str, list[tuple[int, float]]]:
        """Points per key of one attempt (the latest by default), ordered by step."""
        async with self.reading() as tx:
            if attempt is None:
                attempt = await tx.scalar("SELECT MAX(attempt) FROM metrics WHERE run_id = ?",
                                          (run_id,))
            if attempt is None:
                return {}
            sql = "SELECT key, step, value FROM metrics WHERE run_id = ? AND attempt = ?"
            args: list[Any] = [run_id, attempt]
            if keys:
                sql += f" AND key IN ({','.join('?' * len(keys))})"
                args += keys
            rows = await tx.all(sql + " ORDER BY key, step", args)
        curves: dict[str, list[tuple[int, float]]] = {}
        for r in rows:
            curves.setdefault(r["key"], []).append((r["step"], r["value"]))
        return curves

    async def metric_count(self, run_id: int | None = None) -> int:
        async with self.reading() as tx:
            if run_id is None:
                return int(await tx.scalar("SELECT COUNT(*) FROM metrics"))
            return int(await tx.scalar("SELECT COUNT(*) FROM metrics WHERE run_id = ?", (run_id,)))

    # -- reads for the control room ----------------------------------------------------

    async def queue_runs(self, experiment_ids: list[int]) -> list[QueueRun]:
        """Every run of the given experiments as the queue lists it, ordered by id."""
        if not experiment_ids:
            return []
        marks = ",".join("?" * len(experiment_ids))
        async with self.reading() as tx:
            return await tx.all_of(QueueRun, f"SELECT {QueueRun.COLUMNS} FROM runs WHERE experiment_id IN ({marks}) "
                                   "ORDER BY id", list(experiment_ids))

    async def metric_points_after(self, run_id: int, attempt: int, after_step: int = -1,
                                  limit: int = 20000) -> dict[str, list[tuple[int, float]]]:
        """Points of one attempt with a step after `after_step`, per key, ordered by step
        (a curve that is followed live is read incrementally)."""
        async with self.reading() as tx:
            rows = await tx.all("SELECT key, step, value FROM metrics WHERE run_id = ? AND attempt = ? "
                                "AND step > ? ORDER BY step, key LIMIT ?",
                                (run_id, attempt, after_step, limit))
        curves: dict[str, list[tuple[int, float]]] = {}
        for r in rows:
            curves.setdefault(r["key"], []).append((r["step"], r["value"]))
        return curves

    async def run_history(self, catalog: str) -> RunCosts:
        """Succeeded runs of a catalog entry: how many, their mean duration (s) and energy (kWh),
        and whether any energy was estimated (for the estimate shown with a proposal)."""
        async with self.reading() as tx:
            row = await tx.one(
                "SELECT COUNT(*) AS n, AVG(finished_at - started_at) AS mean_s, AVG(energy_kwh) AS mean_kwh, "
                "MAX(CASE WHEN energy_mode = 'measured' THEN 0 ELSE 1 END) AS estimated FROM runs "
                "WHERE catalog = ? AND status = 'succeeded' AND started_at IS NOT NULL "
                "AND finished_at IS NOT NULL", (catalog,))
        return RunCosts.of(row) if row else RunCosts()

    # -- inside a transaction ------------------------------------------------------------

    async def _require_run(self, tx: Tx, run_id: int) -> Run:
        run = Run.maybe(await tx.one("SELECT * FROM runs WHERE id = ?", (run_id,)))
        if run is None:
            raise NotFoundError(f"no run with id {run_id} (see `lab show <experiment>` for run ids)")
        return run

    async def _set_run(self, tx: Tx, run: Run, status: R, **fields: Any) -> Run:
        """Change the run's row; returns the run as it now is."""
        if run.status != status:
            check_run(run.status, status.value)
        changed = {**fields, "status": status, "updated_at": time.time()}
        columns = {k: (to_json(v) if isinstance(v, (dict, list)) else v) for k, v in changed.items()}
        sets = ", ".join(f"{k} = ?" for k in columns)
        await tx.run(f"UPDATE runs SET {sets} WHERE id = ?", (*columns.values(), run.id))
        return replace(run, **changed)

    async def _cascade(self, tx: Tx, run_id: int) -> None:
        """Propagate a finished run to the runs that depend on it, transitively."""
        run = await self._require_run(tx, run_id)
        siblings = Run.many(await tx.all("SELECT * FROM runs WHERE experiment_id = ? ORDER BY id",
                                         (run.experiment_id,)))
        by_id = {r.id: r for r in siblings}
        frontier = [run_id]
        while frontier:
            done_id = frontier.pop()
            done = by_id[done_id]
            for dep in [by_id[r.id] for r in siblings]:
                if done_id not in dep.depends_on or dep.status != R.PENDING:
                    continue
                if done.status in RUN_BAD:
                    reason = (f"dependency {done.variant} (run {done_id}) {done.status}")
                    by_id[dep.id] = await self._set_run(tx, dep, R.FAILED, error=reason, finished_at=time.time())
                    await add_event(tx, "run.failed", f"run {dep.id} {dep.variant} seed "
                                    f"{dep.seed} failed: {reason}",
                                    experiment_id=dep.experiment_id, run_id=dep.id)
                    frontier.append(dep.id)
                elif done.status == R.SKIPPED:
                    reason = f"dependency {done.variant} (run {done_id}) was skipped"
                    by_id[dep.id] = await self._set_run(tx, dep, R.SKIPPED, error=reason, finished_at=time.time())
                    frontier.append(dep.id)
                elif all(by_id[d].status in RUN_OK for d in dep.depends_on):
                    by_id[dep.id] = await self._set_run(tx, dep, R.QUEUED, queued_at=time.time())

    async def _maybe_experiment_finished(self, tx: Tx, exp_id: int) -> bool:
        """When no run of the experiment can still change, it moves on to analysis."""
        exp = await self._require(tx, exp_id)
        open_runs = await tx.scalar(
            "SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND status IN ('pending','queued','running')",
            (exp_id,))
        if open_runs or exp.status not in (E.APPROVED, E.RUNNING):
            return False
        await self._set_status(tx, exp_id, E.ANALYZING)
        await add_event(tx, "experiment.analyzing", f"experiment {exp_id}: all runs finished",
                        experiment_id=exp_id)
        return True
