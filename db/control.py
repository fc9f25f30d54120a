"""The bus between clients and the engine: requests, runtime settings, the engine's heartbeat."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from contract.event_data import RequestAsked
from db.core import StoreCore
from db.experiments import add_event
from db.rows import EngineRow, Request, to_json

RUNS_WAIT = "runs_wait"  # the settings row where the engine says why queued runs wait (set_runs_wait)

REQUEST_KINDS = frozenset({
    "approve", "reject", "cancel", "retry", "priority", "edit", "pause", "resume", "setting",
    "cancel_run", "warm",
})


_T = TypeVar("_T", int, bool, str)


def _setting(values: Mapping[str, object], key: str, kind: type[_T]) -> _T | None:
    value = values.get(key)
    if isinstance(value, bool) and kind is not bool:
        return None
    return value if isinstance(value, kind) else None


@dataclass(frozen=True)
class RunsWait:
    """The engine's word on why queued runs cannot start now, and since when."""

    reason: str
    since: float


@dataclass(frozen=True)
class LabSettings:
    """The settings table: what was changed at run time (None: never changed, config.toml's holds)."""

    autonomy: int | None = None
    research: bool | None = None
    paused: bool = False
    research_profile: str | None = None
    research_backend: str | None = None
    runs_wait: RunsWait | None = None

    @classmethod
    def of(cls, values: Mapping[str, object]) -> LabSettings:
        """From the table's decoded values by key; a value of another type reads as never set."""
        wait = values.get(RUNS_WAIT)
        reason = wait.get("reason") if isinstance(wait, dict) else None
        since = wait.get("since") if isinstance(wait, dict) else None
        return cls(autonomy=_setting(values, "autonomy", int), research=_setting(values, "research", bool),
                   paused=bool(values.get("paused", False)), research_profile=_setting(values, "research_profile", str),
                   research_backend=_setting(values, "research_backend", str),
                   runs_wait=RunsWait(reason, float(since) if isinstance(since, int | float) else 0.0)
                   if isinstance(reason, str) and reason else None)

    def overrides(self) -> dict[str, int | bool | str]:
        """The research settings changed at run time, by name (over config.toml's)."""
        given = {"autonomy": self.autonomy, "research": self.research, "research_profile": self.research_profile,
                 "research_backend": self.research_backend}
        return {k: v for k, v in given.items() if v is not None}


class ControlMixin(StoreCore):
    async def add_request(self, kind: str, *, target_kind: str = "experiment",
                          target_id: int | None = None, payload: Mapping[str, object] | None = None,
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
                            data=RequestAsked(req_id))
        return req_id

    async def pending_requests(self) -> list[Request]:
        async with self.reading() as tx:
            return Request.many(await tx.all("SELECT * FROM requests WHERE status = 'pending' ORDER BY id"))

    async def complete_request(self, req_id: int, ok: bool, response: Mapping[str, str]) -> None:
        async with self.transaction() as tx:
            await tx.run("UPDATE requests SET status = ?, response = ?, handled_at = ? WHERE id = ?",
                         ("done" if ok else "error", to_json(response), time.time(), req_id))

    async def get_request(self, req_id: int) -> Request | None:
        async with self.reading() as tx:
            return Request.maybe(await tx.one("SELECT * FROM requests WHERE id = ?", (req_id,)))

    # -- settings changed at run time (autonomy, pause, research); config.toml holds the rest --

    async def settings(self) -> LabSettings:
        async with self.reading() as tx:
            rows = await tx.all("SELECT key, value FROM settings")
        return LabSettings.of({r["key"]: json.loads(r["value"]) for r in rows})

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
