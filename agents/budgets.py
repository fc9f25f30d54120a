"""Budgets: experiments approved per hour, kWh per day, LLM dollars per day.

The day starts at local midnight; the hour is the last sixty minutes. An experiment that would
go over any budget waits for a person, whatever the autonomy level.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from contract import units
from contract.config import Budgets
from contract.requests import Approve
from db import Store


def day_start(now: float | None = None) -> float:
    moment = datetime.fromtimestamp(time.time() if now is None else now)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


@dataclass(frozen=True)
class BudgetUse:
    limits: Budgets
    experiments_last_hour: int
    kwh_today: float
    llm_usd_today: float

    def over(self, estimate_kwh: float | None = None) -> list[str]:
        """Why one more experiment (of `estimate_kwh`) would break a budget; [] when it fits."""
        reasons = []
        if self.experiments_last_hour + 1 > self.limits.experiments_per_hour:
            reasons.append(f"{self.experiments_last_hour} of {self.limits.experiments_per_hour} experiments "
                           "already approved in the last hour")
        projected = self.kwh_today + (estimate_kwh or 0.0)
        if projected > self.limits.kwh_per_day:
            extra = f" + an estimated {units.energy(estimate_kwh)}" if estimate_kwh else ""
            reasons.append(f"{units.energy(self.kwh_today)} used today{extra} exceeds {units.energy(self.limits.kwh_per_day)}"
                           " per day")
        if self.llm_usd_today >= self.limits.llm_usd_per_day:
            reasons.append(f"{units.usd(self.llm_usd_today)} of {units.usd(self.limits.llm_usd_per_day)} LLM spend per day used")
        return reasons

    def describe(self) -> str:
        return (f"{self.experiments_last_hour}/{self.limits.experiments_per_hour} experiments this hour, "
                f"{units.energy(self.kwh_today)} of {units.energy(self.limits.kwh_per_day)} today, "
                f"{units.usd(self.llm_usd_today)} of {units.usd(self.limits.llm_usd_per_day)} LLM today")


async def budget_use(store: Store, limits: Budgets, now: float | None = None) -> BudgetUse:
    """What has been spent: a read-only helper (the control room shows the budgets left)."""
    now = time.time() if now is None else now
    since_day = day_start(now)
    approved = await store.experiments_approved_since(now - 3600)
    # approvals asked for but not yet carried out by the engine count already
    approved = int(approved or 0) + sum(1 for r in await store.pending_requests() if r.kind == Approve.kind)
    energy = await store.energy_totals(since_day)
    spend = await store.llm_spend(since_day)
    return BudgetUse(limits, approved, float(energy.energy_kwh or 0.0), float(spend.cost_usd or 0.0))
