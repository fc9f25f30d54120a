"""The research team's records: sprints (each worked by one host at a time) and findings.

A sprint is claimed by a host (`hostname:pid`) and kept alive by its heartbeat. Every change a
host makes to a sprint is conditional on still holding it, so two hosts never work the same
sprint; at most one sprint is in discussion lab-wide (a unique index), so two hosts never
propose at once from the same picture of the lab.
"""

from __future__ import annotations

import time
from typing import Any

from contract.event_data import Rated, SprintRef
from contract.finding_data import FindingData
from contract.rating_record import Breakdown
from db.core import StoreCore
from db.experiments import add_event
from db.rows import Experiment, Sprint, StoredFinding, to_json
from db.states import SPRINT_FINISHED, SPRINT_OPEN
from db.totals import AgentUsage, Proposed, RunCosts

SPRINT_FIELDS = frozenset({"stage", "experiment_id", "topic", "note", "backend"})
# who proposed an experiment, from what the agents record on it (agents/validator.py, agents/sprint.py)
PROPOSER = ("CASE WHEN json_extract(metadata, '$.research.proposed_by') IN ('validator', 'researcher', 'coder') "
            "THEN json_extract(metadata, '$.research.proposed_by') "
            "WHEN source = 'validator' THEN 'validator' "
            "WHEN source IN ('agents', 'researcher') OR json_extract(metadata, '$.research.sprint_id') IS NOT NULL "
            "THEN 'researcher' ELSE 'person' END")


class SprintLostError(Exception):
    """The sprint is no longer held by this host (another host took it over)."""


class ResearchMixin(StoreCore):
    # -- sprints ---------------------------------------------------------------------------

    async def open_sprint(self, host: str, autonomy: int, backend: str, *,
                          stale_before: float) -> int | None:
        """Start a sprint in discussion, held by `host`; None while another host discusses.

        A discussion whose host stopped beating before `stale_before` is abandoned first.
        """
        now = time.time()
        async with self.transaction() as tx:
            stale = await tx.all("SELECT id FROM sprints WHERE stage = 'discussing' AND "
                                 "(host IS NULL OR heartbeat_at IS NULL OR heartbeat_at < ?)", (stale_before,))
            for row in stale:
                await tx.run("UPDATE sprints SET stage = 'abandoned', host = NULL, finished_at = ?, "
                             "updated_at = ?, note = 'its host stopped during the discussion' WHERE id = ?",
                             (now, now, row["id"]))
                await add_event(tx, "sprint.abandoned", f"sprint {row['id']} abandoned: its host stopped "
                                "during the discussion")
            if await tx.scalar("SELECT id FROM sprints WHERE stage = 'discussing'") is not None:
                return None
            sprint_id, _ = await tx.run(
                "INSERT INTO sprints (stage, autonomy, backend, host, heartbeat_at, created_at, updated_at) "
                "VALUES ('discussing', ?, ?, ?, ?, ?, ?)", (autonomy, backend, host, now, now, now))
            await add_event(tx, "sprint.started", f"sprint {sprint_id} started by {host} "
                            f"(autonomy {autonomy}, {backend})", data=SprintRef(sprint_id))
        return sprint_id

    async def claim_sprint(self, sprint_id: int, host: str, *, stale_before: float) -> bool:
        """Take an open sprint that nobody holds, that `host` holds, or whose holder went silent."""
        now = time.time()
        marks = ",".join("?" * len(SPRINT_OPEN))
        async with self.transaction() as tx:
            previous = await tx.scalar("SELECT host FROM sprints WHERE id = ?", (sprint_id,))
            _, changed = await tx.run(
                f"UPDATE sprints SET host = ?, heartbeat_at = ?, updated_at = ? WHERE id = ? AND "
                f"stage IN ({marks}) AND (host IS NULL OR host = ? OR heartbeat_at IS NULL OR heartbeat_at < ?)",
                (host, now, now, sprint_id, *SPRINT_OPEN, host, stale_before))
            if changed and previous != host:
                await add_event(tx, "sprint.claimed", f"sprint {sprint_id} taken up by {host}"
                                + (f" (after {previous} went silent)" if previous else ""),
                                data=SprintRef(sprint_id))
        return bool(changed)

    async def claimable_sprints(self, host: str, *, stale_before: float) -> list[Sprint]:
        """Open sprints this host holds or could take over, oldest first."""
        marks = ",".join("?" * len(SPRINT_OPEN))
        async with self.reading() as tx:
            return Sprint.many(await tx.all(
                f"SELECT * FROM sprints WHERE stage IN ({marks}) AND (host IS NULL OR host = ? OR "
                f"heartbeat_at IS NULL OR heartbeat_at < ?) ORDER BY id", (*SPRINT_OPEN, host, stale_before)))

    async def sprint_heartbeat(self, host: str) -> None:
        now = time.time()
        marks = ",".join("?" * len(SPRINT_OPEN))
        async with self.transaction() as tx:
            await tx.run(f"UPDATE sprints SET heartbeat_at = ? WHERE host = ? AND stage IN ({marks})",
                         (now, host, *SPRINT_OPEN))

    async def update_sprint(self, sprint_id: int, host: str, **fields: Any) -> None:
        """Change a sprint this host holds; SprintLostError when it does not hold it any more."""
        unknown = set(fields) - SPRINT_FIELDS
        if unknown:
            raise ValueError(f"cannot set sprint fields {sorted(unknown)}")
        now = time.time()
        fields["updated_at"] = now
        fields["heartbeat_at"] = now
        if fields.get("stage") in SPRINT_FINISHED:
            fields["finished_at"] = now
        sets = ", ".join(f"{k} = ?" for k in fields)
        async with self.transaction() as tx:
            _, changed = await tx.run(f"UPDATE sprints SET {sets} WHERE id = ? AND host = ?",
                                      (*fields.values(), sprint_id, host))
            if not changed:
                raise SprintLostError(f"sprint {sprint_id} is no longer held by {host}")
            if "stage" in fields:
                await add_event(tx, f"sprint.{fields['stage']}", f"sprint {sprint_id} {fields['stage']}"
                                + (f": {fields['note']}" if fields.get("note") else ""),
                                experiment_id=fields.get("experiment_id"), data=SprintRef(sprint_id))

    async def release_sprint(self, sprint_id: int, host: str) -> None:
        """Let go of a sprint (another host, or this one later, may take it up)."""
        async with self.transaction() as tx:
            await tx.run("UPDATE sprints SET host = NULL, updated_at = ? WHERE id = ? AND host = ?",
                         (time.time(), sprint_id, host))

    async def get_sprint(self, sprint_id: int) -> Sprint | None:
        async with self.reading() as tx:
            return Sprint.maybe(await tx.one("SELECT * FROM sprints WHERE id = ?", (sprint_id,)))

    async def list_sprints(self, *, open_only: bool = False, limit: int = 100) -> list[Sprint]:
        sql, args = "SELECT * FROM sprints", []
        if open_only:
            sql += f" WHERE stage IN ({','.join('?' * len(SPRINT_OPEN))})"
            args += list(SPRINT_OPEN)
        async with self.reading() as tx:
            return Sprint.many(await tx.all(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)))

    # -- ratings, findings, lineage -----------------------------------------------------------

    async def set_rating(self, exp_id: int, rating: float, breakdown: Breakdown, *,
                         replace: bool = False) -> bool:
        """Store a rating; with replace=False only when the experiment has none yet, so that two
        validators of the same experiment never both act on it. True when written."""
        sql = "UPDATE experiments SET rating = ?, rating_breakdown = ?, updated_at = ? WHERE id = ?"
        if not replace:
            sql += " AND rating_breakdown IS NULL"
        async with self.transaction() as tx:
            _, changed = await tx.run(sql, (rating, to_json(breakdown), time.time(), exp_id))
            if changed:
                await add_event(tx, "experiment.rated", f"experiment {exp_id} rated {rating:g}/10",
                                experiment_id=exp_id, data=Rated(rating))
        return bool(changed)

    async def replace_findings(self, exp_id: int, catalog: str,
                               rows: list[tuple[str | None, str, str, FindingData]]) -> None:
        """The findings of one experiment: (variant, kind, text, data) each; earlier ones replaced."""
        now = time.time()
        async with self.transaction() as tx:
            await tx.run("DELETE FROM findings WHERE experiment_id = ?", (exp_id,))
            await tx.many("INSERT INTO findings (experiment_id, catalog, variant, kind, text, data, created_at) "
                          "VALUES (?,?,?,?,?,?,?)",
                          [(exp_id, catalog, variant, kind, text, to_json(data), now)
                           for variant, kind, text, data in rows])

    async def findings(self, *, catalog: str | None = None, experiment_id: int | None = None,
                       limit: int = 200) -> list[StoredFinding]:
        sql, args = "SELECT * FROM findings WHERE 1 = 1", list[Any]()
        if catalog is not None:
            sql += " AND catalog = ?"
            args.append(catalog)
        if experiment_id is not None:
            sql += " AND experiment_id = ?"
            args.append(experiment_id)
        async with self.reading() as tx:
            rows = await tx.all(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return StoredFinding.many(rows[::-1])

    async def child_experiments(self, parent_id: int) -> list[Experiment]:
        async with self.reading() as tx:
            return Experiment.many(await tx.all("SELECT * FROM experiments WHERE parent_id = ? ORDER BY id",
                                                (parent_id,)))

    async def run_costs(self, catalog: str, profile: str | None = None) -> RunCosts:
        """Succeeded runs of a catalog entry (at a profile when given): how many, their mean
        duration (s) and energy (kWh); the basis of the architect's estimates."""
        sql = ("SELECT COUNT(*) AS n, AVG(finished_at - started_at) AS mean_s, AVG(energy_kwh) AS mean_kwh "
               "FROM runs WHERE catalog = ? AND status = 'succeeded' AND started_at IS NOT NULL "
               "AND finished_at IS NOT NULL")
        args: list[Any] = [catalog]
        if profile is not None:
            sql += " AND json_extract(params, '$.profile') = ?"
            args.append(profile)
        async with self.reading() as tx:
            row = await tx.one(sql, args)
        return RunCosts.of(row) if row else RunCosts()

    # -- who proposed what: the research tracker's contributions ---------------------------------

    async def proposals_by_agent(self) -> list[Proposed]:
        """Every experiment with who proposed it: the validator (a follow-up it proposed), the
        researcher (a sprint's proposal), or a person (`lab run`, a job file, the control room, a
        reproduction); with its status, whether it was approved, and its rating."""
        async with self.reading() as tx:
            return Proposed.many(await tx.all(f"SELECT id AS experiment_id, {PROPOSER} AS proposer, status, "
                                              "approved_at IS NOT NULL AS approved, rating FROM experiments ORDER BY id"))

    async def messages_by_agent(self) -> list[AgentUsage]:
        """What each agent said: messages, tokens in and out, dollars (LLM backends only)."""
        async with self.reading() as tx:
            return AgentUsage.many(await tx.all(
                "SELECT agent, COUNT(*) AS messages, SUM(tokens_in) AS tokens_in, SUM(tokens_out) AS tokens_out, "
                "SUM(cost_usd) AS cost_usd FROM messages GROUP BY agent ORDER BY agent"))
