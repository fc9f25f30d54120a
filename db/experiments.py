"""Experiments: creation, approval (which materialises the runs), state changes, reads."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract.deliverable import Deliverable
from contract.event_data import EventData, Rejected
from contract.experiment_metadata import ExperimentMetadata
from contract.modifications import Modifications
from contract.params import ParamValues
from contract.plan import PlanStep
from contract.record_json import JsonRecord
from contract.runspec import DeviceKind
from db.core import StoreCore, Tx
from db.plans import RunDefaults, expand
from db.rows import Experiment, FamilyMember, to_json
from db.states import (
    EXPERIMENT_FINISHED,
    IllegalTransitionError,
    check_experiment,
)
from db.states import (
    ExperimentState as E,
)
from db.states import (
    RunState as R,
)


class NotFoundError(LookupError):
    """No row with that id."""


@dataclass
class NewExperiment:
    name: str
    catalog: str
    params: ParamValues
    plan: tuple[PlanStep, ...]
    seeds: int = 1
    hypothesis: str = ""
    research_question: str = ""
    priority: int = 0
    deliverables: tuple[Deliverable, ...] = ()
    metadata: ExperimentMetadata = field(default_factory=ExperimentMetadata)
    parent_id: int | None = None
    modifications: Modifications = field(default_factory=Modifications)
    source: str = "cli"


# Columns a caller may set directly with update_experiment (never the status: see set_status).
EXPERIMENT_FIELDS = frozenset({
    "hypothesis", "research_question", "params", "plan", "seeds", "deliverables", "metadata",
    "priority", "rating", "rating_breakdown", "error", "git_sha", "modifications", "reject_reason",
})


async def add_event(tx: Tx, kind: str, message: str, *, experiment_id: int | None = None,
                    run_id: int | None = None, data: EventData | None = None) -> None:
    """Append to the audit log, inside the caller's transaction."""
    await tx.run(
        "INSERT INTO events (t, kind, experiment_id, run_id, message, data) VALUES (?,?,?,?,?,?)",
        (time.time(), kind, experiment_id, run_id, message, None if data is None else to_json(data)),
    )


class ExperimentsMixin(StoreCore):
    async def create_experiment(self, new: NewExperiment, *, status: E = E.AWAITING_APPROVAL,
                                run_defaults: RunDefaults | None = None) -> int:
        """Insert an experiment; when created already approved its runs are created too."""
        now = time.time()
        async with self.transaction() as tx:
            exp_id, _ = await tx.run(
                """INSERT INTO experiments (name, catalog, parent_id, modifications, hypothesis,
                   research_question, params, plan, seeds, deliverables, metadata, source, status,
                   priority, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (new.name, new.catalog, new.parent_id, to_json(new.modifications), new.hypothesis,
                 new.research_question, to_json(new.params), to_json(new.plan), new.seeds,
                 to_json(new.deliverables), to_json(new.metadata), new.source, E.PROPOSED.value,
                 new.priority, now, now),
            )
            await add_event(tx, "experiment.created", f"experiment {exp_id} {new.name} proposed "
                            f"({new.catalog}, {new.seeds} seed(s))", experiment_id=exp_id)
            if status == E.APPROVED:
                await self._approve(tx, exp_id, run_defaults or RunDefaults(), note="created approved")
            elif status != E.PROPOSED:
                await self._set_status(tx, exp_id, status)
        return exp_id

    async def approve_experiment(self, exp_id: int, run_defaults: RunDefaults,
                                 note: str = "approved") -> int:
        """Approve a waiting experiment and queue its runs; returns the number of runs."""
        async with self.transaction() as tx:
            return await self._approve(tx, exp_id, run_defaults, note=note)

    async def _approve(self, tx: Tx, exp_id: int, defaults: RunDefaults, *, note: str) -> int:
        exp = await self._require(tx, exp_id)
        await self._set_status(tx, exp_id, E.APPROVED, approved_at=time.time())
        planned = expand(exp.plan, exp.seeds)
        params = exp.params
        timeout = params.get("timeout_s", defaults.timeout_s)
        mem_limit = params.get("mem_limit_bytes", defaults.mem_limit_bytes)
        device_kind = DeviceKind.CUDA if params.get("device") == DeviceKind.CUDA else DeviceKind.CPU
        now = time.time()
        ids: dict[tuple[str, int], int] = {}
        for run in planned:
            deps = [ids[(name, run.seed)] for name in run.depends_on]
            status = R.PENDING if deps else R.QUEUED
            run_id, _ = await tx.run(
                """INSERT INTO runs (experiment_id, catalog, variant, seed, params, variant_params,
                   depends_on, is_baseline, status, priority, max_attempts, device_kind, timeout_s,
                   mem_limit_bytes, created_at, queued_at, updated_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (exp_id, exp.catalog, run.variant, run.seed, to_json(params),
                 to_json(run.variant_params), to_json(deps), int(run.is_baseline), status.value,
                 exp.priority, defaults.max_attempts, device_kind, timeout, mem_limit, now,
                 now if status == R.QUEUED else None, now),
            )
            ids[(run.variant, run.seed)] = run_id
        await add_event(tx, "experiment.approved", f"experiment {exp_id} {note}: {len(planned)} run(s)",
                        experiment_id=exp_id)
        return len(planned)

    async def reject_experiment(self, exp_id: int, reason: str) -> None:
        async with self.transaction() as tx:
            await self._set_status(tx, exp_id, E.REJECTED, reject_reason=reason,
                                   finished_at=time.time())
            await add_event(tx, "experiment.rejected", f"experiment {exp_id} rejected: {reason}",
                            experiment_id=exp_id, data=Rejected(reason))

    async def set_experiment_status(self, exp_id: int, status: E, *, message: str | None = None,
                                    **fields: Any) -> None:
        async with self.transaction() as tx:
            if status in EXPERIMENT_FINISHED:
                fields.setdefault("finished_at", time.time())
            await self._set_status(tx, exp_id, status, **fields)
            await add_event(tx, f"experiment.{status.value}",
                            message or f"experiment {exp_id} {status.value}", experiment_id=exp_id)

    async def update_experiment(self, exp_id: int, **fields: Any) -> None:
        unknown = set(fields) - EXPERIMENT_FIELDS
        if unknown:
            raise ValueError(f"cannot set experiment fields {sorted(unknown)}")
        async with self.transaction() as tx:
            await self._require(tx, exp_id)
            await self._update(tx, exp_id, fields)

    async def get_experiment(self, exp_id: int) -> Experiment | None:
        async with self.reading() as tx:
            return Experiment.maybe(await tx.one("SELECT * FROM experiments WHERE id = ?", (exp_id,)))

    async def list_experiments(self, statuses: list[str] | None = None,
                               limit: int | None = None) -> list[Experiment]:
        sql = "SELECT * FROM experiments"
        args: list[Any] = []
        if statuses:
            sql += f" WHERE status IN ({','.join('?' * len(statuses))})"
            args += statuses
        sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        async with self.reading() as tx:
            return Experiment.many(await tx.all(sql, args))

    async def experiment_counts(self) -> dict[E, int]:
        async with self.reading() as tx:
            rows = await tx.all("SELECT status, COUNT(*) AS n FROM experiments GROUP BY status")
        return {E(r["status"]): r["n"] for r in rows}

    # -- reads for the control room ----------------------------------------------------

    async def rated_experiments(self, limit: int = 50) -> list[Experiment]:
        """Experiments with a rating, best first (the leaderboard)."""
        async with self.reading() as tx:
            return Experiment.many(await tx.all("SELECT * FROM experiments WHERE rating IS NOT NULL "
                                "ORDER BY rating DESC, id DESC LIMIT ?", (limit,)))

    async def experiments_approved_since(self, since: float) -> int:
        """How many experiments were approved at or after `since` (the experiments/hour budget)."""
        async with self.reading() as tx:
            return int(await tx.scalar("SELECT COUNT(*) FROM experiments WHERE approved_at >= ?", (since,)))

    async def experiment_family(self, exp_id: int) -> list[FamilyMember]:
        """The experiment, its ancestors and all its descendants (id, parent_id, name, catalog,
        status, rating, modifications), ordered by id: enough to draw its genealogy tree."""
        async with self.reading() as tx:
            return FamilyMember.many(await tx.all(
                """WITH RECURSIVE
                     up(id) AS (SELECT ? UNION SELECT e.parent_id FROM experiments e JOIN up ON e.id = up.id
                                WHERE e.parent_id IS NOT NULL),
                     down(id) AS (SELECT ? UNION SELECT e.id FROM experiments e JOIN down ON e.parent_id = down.id)
                   SELECT id, parent_id, name, catalog, status, rating, modifications FROM experiments
                   WHERE id IN (SELECT id FROM up UNION SELECT id FROM down) ORDER BY id""",
                (exp_id, exp_id)))

    # -- inside a transaction ------------------------------------------------------------

    async def _require(self, tx: Tx, exp_id: int) -> Experiment:
        exp = Experiment.maybe(await tx.one("SELECT * FROM experiments WHERE id = ?", (exp_id,)))
        if exp is None:
            raise NotFoundError(f"no experiment with id {exp_id} (see `lab status` for the ids)")
        return exp

    async def _set_status(self, tx: Tx, exp_id: int, status: E, **fields: Any) -> None:
        exp = await self._require(tx, exp_id)
        try:
            check_experiment(exp.status, status.value)
        except IllegalTransitionError as exc:
            raise IllegalTransitionError(f"experiment {exp_id} is {exp.status}: cannot make it "
                                    f"{status.value}") from exc
        await self._update(tx, exp_id, {"status": status.value, **fields})

    async def _update(self, tx: Tx, exp_id: int, fields: Mapping[str, object]) -> None:
        """Set columns of one experiment (a dict or a list is stored as its JSON)."""
        columns = {k: (to_json(v) if isinstance(v, (dict, list, tuple, JsonRecord)) else v) for k, v in fields.items()}
        columns["updated_at"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in columns)
        await tx.run(f"UPDATE experiments SET {sets} WHERE id = ?", (*columns.values(), exp_id))
