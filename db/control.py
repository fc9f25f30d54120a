"""The bus between clients and the engine: requests, runtime settings, the engine's heartbeat."""

from __future__ import annotations

import json
import time
from typing import Any

from db.core import StoreCore
from db.experiments import add_event
from db.rows import EngineRow, Request, to_json

RUNS_WAIT = "runs_wait"  # the settings row where the engine says why queued runs wait (set_runs_wait)

REQUEST_KINDS = frozenset({
    "approve", "reject", "cancel", "retry", "priority", "edit", "pause", "resume", "setting",
    "cancel_run", "warm",
})


class ControlMixin(StoreCore):
    async def add_request(self, kind: str, *, target_kind: str = "experiment",
                          target_id: int | None = None, payload: dict[str, Any] | None = None,
                          origin: str = "cli") -> int:
        if kind not in REQUEST_KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        async with self.transaction() as tx:
            req_id, _ = await tx.run(
                "INSERT INTO requests (t, kind, target_kind, target_id, payload, origin) VALUES (?,?,?,?,?,?)",
                (time.time(), kind, target_kind, target_id, to_json(payload or {}), origin))
            await add_event(tx, "request", f"{origin} asked to {kind} {target_kind} "
                            f"{target_id if target_id is not None else ''}".rstrip(),
                            experiment_id=target_id if target_kind == "experiment" else None,
                            data={"request_id": req_id})
        return req_id

    async def pending_requests(self) -> list[Request]:
        async with self.reading() as tx:
            return Request.many(await tx.all("SELECT * FROM requests WHERE status = 'pending' ORDER BY id"))

    async def complete_request(self, req_id: int, ok: bool, response: dict[str, Any]) -> None:
        async with self.transaction() as tx:
            await tx.run("UPDATE requests SET status = ?, response = ?, handled_at = ? WHERE id = ?",
                         ("done" if ok else "error", to_json(response), time.time(), req_id))

    async def get_request(self, req_id: int) -> Request | None:
        async with self.reading() as tx:
            return Request.maybe(await tx.one("SELECT * FROM requests WHERE id = ?", (req_id,)))

    # -- settings changed at run time (autonomy, pause, research); config.toml holds the rest --

    async def settings(self) -> dict[str, Any]:
        async with self.reading() as tx:
            rows = await tx.all("SELECT key, value FROM settings")
        return {r["key"]: json.loads(r["value"]) for r in rows}

    async def set_setting(self, key: str, value: Any) -> None:
        async with self.transaction() as tx:
            await tx.run("INSERT INTO settings (key, value, updated_at) VALUES (?,?,?) ON CONFLICT(key) "
                         "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                         (key, json.dumps(value), time.time()))
            await add_event(tx, "setting", f"setting {key} = {json.dumps(value)}")

    async def set_runs_wait(self, reason: str | None) -> None:
        """The engine's word on why queued runs cannot start now (None: they are not held back),
        with since when; kept apart from the settings a person changes (no event per change)."""
        async with self.transaction() as tx:
            if reason is None:
                await tx.run("DELETE FROM settings WHERE key = ?", (RUNS_WAIT,))
                return
            row = await tx.one("SELECT value FROM settings WHERE key = ?", (RUNS_WAIT,))
            old = json.loads(row["value"]) if row else None
            since = old["since"] if isinstance(old, dict) and old.get("reason") == reason else time.time()
            await tx.run("INSERT INTO settings (key, value, updated_at) VALUES (?,?,?) ON CONFLICT(key) "
                         "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                         (RUNS_WAIT, json.dumps({"reason": reason, "since": since}), time.time()))

    # -- the engine's row --------------------------------------------------------------

    async def engine_started(self, pid: int, host: str, version: str) -> None:
        now = time.time()
        async with self.transaction() as tx:
            await tx.run("INSERT INTO engine (id, pid, host, started_at, heartbeat_at, stopped_at, version) "
                         "VALUES (1,?,?,?,?,NULL,?) ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, "
                         "host = excluded.host, started_at = excluded.started_at, heartbeat_at = "
                         "excluded.heartbeat_at, stopped_at = NULL, version = excluded.version",
                         (pid, host, now, now, version))
            await add_event(tx, "engine.started", f"engine started (pid {pid} on {host})")

    async def engine_heartbeat(self, pid: int) -> None:
        async with self.transaction() as tx:
            await tx.run("UPDATE engine SET heartbeat_at = ? WHERE id = 1 AND pid = ?", (time.time(), pid))

    async def engine_stopped(self, pid: int) -> None:
        async with self.transaction() as tx:
            await tx.run("UPDATE engine SET stopped_at = ? WHERE id = 1 AND pid = ?", (time.time(), pid))
            await add_event(tx, "engine.stopped", f"engine stopped (pid {pid})")

    async def engine_row(self) -> EngineRow | None:
        async with self.reading() as tx:
            return EngineRow.maybe(await tx.one("SELECT * FROM engine WHERE id = 1"))
