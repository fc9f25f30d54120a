"""Proposing an experiment and asking for its approval when the autonomy level and the budgets
allow: approval is a request row the engine carries out, like a person's `lab approve`."""

from __future__ import annotations

from agents.approval import Decision, decide
from agents.budgets import budget_use
from agents.research_settings import ResearchSettings
from contract import requests as rq
from contract.params import ParamValues
from db import Experiment, Store


async def approval_for(store: Store, settings: ResearchSettings, *, parent: Experiment | None,
                       estimate_kwh: float | None) -> Decision:
    use = await budget_use(store, settings.budgets)
    follow_up_of_approved = parent is not None and parent.approved_at is not None
    return decide(settings.autonomy, follow_up_of_approved=follow_up_of_approved,
                  over_budget=use.over(estimate_kwh))


async def ask_approval(store: Store, exp_id: int, decision: Decision, agent: str) -> int:
    request = rq.make(rq.Approve(exp_id, note=f"approved by the {agent}: {decision.reason}"))
    return int(await store.add_request(**rq.row(request), origin="agents"))


async def lineage_depth(store: Store, exp: Experiment) -> int:
    depth, parent_id = 0, exp.parent_id
    while parent_id is not None and depth < 1000:
        depth += 1
        parent = await store.get_experiment(parent_id)
        parent_id = parent.parent_id if parent else None
    return depth


async def duplicate_of(store: Store, catalog: str, params: ParamValues, seeds: int) -> int | None:
    """An experiment (any state, rejected included) with the same catalog entry, parameters and seeds."""
    for e in await store.list_experiments():
        if e.catalog == catalog and e.seeds == seeds and e.params == params:
            return int(e.id)
    return None
