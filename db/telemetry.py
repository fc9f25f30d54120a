"""What the control room follows: the audit log, agent messages, system samples."""

from __future__ import annotations

import time
from typing import Any

from contract.event_data import EventData
from db.core import StoreCore
from db.experiments import add_event
from db.rows import Event, GpuReading, Message, SystemSample, to_json
from db.states import MessageKind
from db.totals import EnergyTotals, MetricPoint, Spend

SYSTEM_HISTORY = 3600  # samples kept (about an hour at one per second)


class TelemetryMixin(StoreCore):
    async def change_stamps(self) -> dict[str, str]:
        """One cheap read that tells a client which tables changed since it last looked: per
        table a value that changes whenever a row is added or updated (the control room reads a
        table again only when its stamp moved)."""
        async with self.reading() as tx:
            row = await tx.one(
                """SELECT (SELECT COUNT(*) || ':' || IFNULL(MAX(updated_at), 0) FROM experiments) AS experiments,
                          (SELECT COUNT(*) || ':' || IFNULL(MAX(updated_at), 0) FROM runs) AS runs,
                          (SELECT COUNT(*) || ':' || IFNULL(SUM(energy_kwh), 0) FROM runs
                           WHERE energy_kwh IS NOT NULL) AS energy,
                          (SELECT COUNT(*) || ':' || IFNULL(MAX(updated_at), 0) FROM messages) AS messages,
                          (SELECT IFNULL(MAX(id), 0) FROM system_samples) AS system,
                          (SELECT COUNT(*) || ':' || IFNULL(MAX(updated_at), 0) FROM settings) AS settings,
                          (SELECT IFNULL(MAX(id), 0) FROM events) AS events,
                          (SELECT COUNT(*) || ':' || IFNULL(MAX(updated_at), 0) FROM llm_endpoints) AS llm,
                          (SELECT IFNULL(started_at, 0) || ':' || IFNULL(stopped_at, 0) FROM engine WHERE id = 1)
                          AS engine""")
        return {key: str(value) for key, value in (row or {}).items()}

    async def add_event(self, kind: str, message: str, *, experiment_id: int | None = None,
                        run_id: int | None = None, data: EventData | None = None) -> None:
        async with self.transaction() as tx:
            await add_event(tx, kind, message, experiment_id=experiment_id, run_id=run_id, data=data)

    async def events_after(self, after_id: int = 0, *, experiment_id: int | None = None,
                           run_id: int | None = None, limit: int = 500) -> list[Event]:
        sql, args = "SELECT * FROM events WHERE id > ?", [after_id]
        if experiment_id is not None:
            sql += " AND experiment_id = ?"
            args.append(experiment_id)
        if run_id is not None:
            sql += " AND run_id = ?"
            args.append(run_id)
        async with self.reading() as tx:
            return Event.many(await tx.all(sql + " ORDER BY id LIMIT ?", (*args, limit)))

    async def last_events(self, limit: int = 50, *, experiment_id: int | None = None) -> list[Event]:
        sql, args = "SELECT * FROM events", []
        if experiment_id is not None:
            sql += " WHERE experiment_id = ?"
            args.append(experiment_id)
        async with self.reading() as tx:
            rows = await tx.all(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return Event.many(rows[::-1])

    async def experiment_metrics(self, exp_id: int) -> list[MetricPoint]:
        """Every metric point of every run of an experiment (for its record), in run/step order."""
        async with self.reading() as tx:
            return MetricPoint.many(await tx.all(
                "SELECT m.run_id, m.attempt, m.step, m.key, m.value, m.t FROM metrics m JOIN runs r ON "
                "r.id = m.run_id WHERE r.experiment_id = ? ORDER BY m.run_id, m.attempt, m.step, m.key",
                (exp_id,)))

    # -- agent messages ----------------------------------------------------------------

    async def add_message(self, agent: str, text: str, *, experiment_id: int | None = None,
                          kind: MessageKind = MessageKind.SAY, backend: str = "offline", streaming: bool = False,
                          tokens_in: int = 0, tokens_out: int = 0, cost_usd: float = 0.0) -> int:
        now = time.time()
        async with self.transaction() as tx:
            msg_id, _ = await tx.run(
                """INSERT INTO messages (experiment_id, agent, kind, text, tokens_in, tokens_out,
                   cost_usd, backend, streaming, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                (experiment_id, agent, kind, text, tokens_in, tokens_out, cost_usd, backend,
                 int(streaming), now, now))
        return msg_id

    async def update_message(self, msg_id: int, *, append: str = "", text: str | None = None,
                             streaming: bool | None = None, tokens_in: int | None = None,
                             tokens_out: int | None = None, cost_usd: float | None = None,
                             backend: str | None = None, experiment_id: int | None = None) -> None:
        """Grow a streaming message, or settle its final text and accounting."""
        sets: list[str] = ["updated_at = ?"]
        args: list[Any] = [time.time()]
        if text is not None:
            sets.append("text = ?")
            args.append(text)
        elif append:
            sets.append("text = text || ?")
            args.append(append)
        for column, value in (("streaming", None if streaming is None else int(streaming)),
                              ("tokens_in", tokens_in), ("tokens_out", tokens_out),
                              ("cost_usd", cost_usd), ("backend", backend),
                              ("experiment_id", experiment_id)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        async with self.transaction() as tx:
            await tx.run(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*args, msg_id))

    async def messages(self, *, experiment_id: int | None = None, after_id: int = 0,
                       limit: int = 200, changed_since: float | None = None) -> list[Message]:
        sql, args = "SELECT * FROM messages WHERE id > ?", list[Any]([after_id])
        if experiment_id is not None:
            sql += " AND experiment_id = ?"
            args.append(experiment_id)
        if changed_since is not None:
            sql += " AND updated_at >= ?"
            args.append(changed_since)
        async with self.reading() as tx:
            rows = await tx.all(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return Message.many(rows[::-1])

    async def llm_spend(self, since: float = 0.0) -> Spend:
        async with self.reading() as tx:
            row = await tx.one("SELECT COALESCE(SUM(cost_usd),0) AS cost_usd, COALESCE(SUM(tokens_in),0) "
                               "AS tokens_in, COALESCE(SUM(tokens_out),0) AS tokens_out FROM messages "
                               "WHERE created_at >= ?", (since,))
        return Spend.of(row) if row else Spend()

    # -- system samples ----------------------------------------------------------------

    async def add_system_sample(self, cpu_pct: float, mem_used: int, mem_total: int,
                                gpus: list[GpuReading], keep: int = SYSTEM_HISTORY) -> None:
        async with self.transaction() as tx:
            sample_id, _ = await tx.run(
                "INSERT INTO system_samples (t, cpu_pct, mem_used, mem_total, gpus) VALUES (?,?,?,?,?)",
                (time.time(), cpu_pct, mem_used, mem_total, to_json(gpus)))
            await tx.run("DELETE FROM system_samples WHERE id <= ?", (sample_id - keep,))

    async def system_samples(self, limit: int = 60) -> list[SystemSample]:
        async with self.reading() as tx:
            rows = await tx.all("SELECT * FROM system_samples ORDER BY id DESC LIMIT ?", (limit,))
        return SystemSample.many(rows[::-1])

    async def energy_totals(self, since: float = 0.0) -> EnergyTotals:
        """Energy of finished runs since a time: kWh, CO2 kg, and whether any was estimated."""
        async with self.reading() as tx:
            rows = await tx.all(
                "SELECT energy_kwh, energy_mode, result FROM runs WHERE energy_kwh IS NOT NULL "
                "AND COALESCE(finished_at, updated_at) >= ?", (since,))
        kwh = sum(r["energy_kwh"] or 0.0 for r in rows)
        co2 = sum(float((r["result"] or {}).get("co2_kg") or 0.0) for r in rows)
        modes = {r["energy_mode"] for r in rows}
        # anything but hardware counters is a model of CPU time ("modelled"; "estimated" before issue 10)
        return EnergyTotals(kwh, co2, len(rows), bool(modes - {"measured"}))
