"""The health of the language-model endpoints the research team uses, kept in the database so
that every process (a `lab sprint`, the engine's background research, the control room) knows
an endpoint failed, why, since when, and when it is tried again.

An endpoint is `degraded` from its first failed call (all attempts spent) until a later call
succeeds; while `retry_at` lies ahead nobody calls it, after that one call may try it again. A
degraded endpoint without `retry_at` refused the key: nobody waits, every call tries it.
"""

from __future__ import annotations

import time

from contract import units
from contract.event_data import EndpointBack, EndpointDown
from db.core import StoreCore
from db.experiments import add_event
from db.rows import LlmEndpoint


class HealthMixin(StoreCore):
    async def llm_health(self, endpoint: str) -> LlmEndpoint | None:
        async with self.reading() as tx:
            return LlmEndpoint.maybe(await tx.one("SELECT * FROM llm_endpoints WHERE endpoint = ?", (endpoint,)))

    async def degraded_llms(self) -> list[LlmEndpoint]:
        async with self.reading() as tx:
            return LlmEndpoint.many(await tx.all(
                "SELECT * FROM llm_endpoints WHERE state = 'degraded' ORDER BY since, endpoint"))

    async def mark_llm_degraded(self, endpoint: str, label: str, reason: str,
                                retry_after_s: float | None) -> LlmEndpoint:
        """Record a failed call: degraded since the first failure, tried again after `retry_after_s`
        (None: no wait, the next call tries it: the endpoint refused the key, a set-up mistake)."""
        now = time.time()
        retry_at = None if retry_after_s is None else now + retry_after_s
        then = "tried again at the next call" if retry_after_s is None else f"tried again after {retry_after_s:g} s"
        async with self.transaction() as tx:
            row = LlmEndpoint.maybe(await tx.one("SELECT * FROM llm_endpoints WHERE endpoint = ?", (endpoint,)))
            since = row.since if row and row.degraded and row.since else now
            failures = (row.failures if row and row.degraded else 0) + 1
            await tx.run("INSERT INTO llm_endpoints (endpoint, label, state, reason, since, retry_at, failures, "
                         "updated_at) VALUES (?,?,'degraded',?,?,?,?,?) ON CONFLICT(endpoint) DO UPDATE SET "
                         "label = excluded.label, state = 'degraded', reason = excluded.reason, since = excluded.since, "
                         "retry_at = excluded.retry_at, failures = excluded.failures, updated_at = excluded.updated_at",
                         (endpoint, label, reason[:500], since, retry_at, failures, now))
            await add_event(tx, "llm.degraded", f"language model {label} degraded ({failures} failed call(s)): "
                            f"{reason[:300]}; {then}", data=EndpointDown(endpoint, retry_at))
            out = LlmEndpoint.maybe(await tx.one("SELECT * FROM llm_endpoints WHERE endpoint = ?", (endpoint,)))
        assert out is not None
        return out

    async def claim_llm_retry(self, endpoint: str, retry_after_s: float) -> bool:
        """Take the one retry of a degraded endpoint that is due: True for exactly one caller
        (its `retry_at` moves on, so the others keep skipping it while this one tries)."""
        now = time.time()
        async with self.transaction() as tx:
            _, changed = await tx.run("UPDATE llm_endpoints SET retry_at = ?, updated_at = ? WHERE endpoint = ? "
                                      "AND state = 'degraded' AND retry_at <= ?",
                                      (now + retry_after_s, now, endpoint, now))
        return changed == 1

    async def mark_llm_ok(self, endpoint: str, label: str) -> LlmEndpoint | None:
        """Record a successful call; returns the degraded row it ends, or None."""
        now = time.time()
        async with self.transaction() as tx:
            row = LlmEndpoint.maybe(await tx.one("SELECT * FROM llm_endpoints WHERE endpoint = ?", (endpoint,)))
            if row is not None and not row.degraded:
                return None
            await tx.run("INSERT INTO llm_endpoints (endpoint, label, state, reason, since, retry_at, failures, "
                         "updated_at) VALUES (?,?,'ok','',?,NULL,0,?) ON CONFLICT(endpoint) DO UPDATE SET "
                         "label = excluded.label, state = 'ok', reason = '', since = excluded.since, retry_at = NULL, "
                         "failures = 0, updated_at = excluded.updated_at", (endpoint, label, now, now))
            if row is not None:
                await add_event(tx, "llm.recovered", f"language model {label} answers again (degraded since "
                                f"{units.when(row.since)})",
                                data=EndpointBack(endpoint))
        return row
