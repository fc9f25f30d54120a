"""A lab whose research tracker is known by hand: seven experiments from the researcher, the
validator and people, four rated (9, 7, 5, 3), with variants whose gains are given, and messages.
Each has its own parameters: none is a re-run of another (science/counting.py)."""

from __future__ import annotations

from typing import Any

from contract.child_kinds import CommandKind
from contract.experiment_metadata import metadata_of
from contract.modifications import Modifications, Original
from db import ExperimentState as E
from db import NewExperiment, Store

PLAN = [{"name": "base", "baseline": True, "depends_on": [], "params": {}}]


def variants(**compared: dict[str, Any]) -> dict[str, Any]:
    base = {"n": 3, "baseline": True, "reference": None, "energy": {"mean": 0.004, "std": 0.0001, "ci95": None}}
    return {"base": base, **{name: {"n": 3, "baseline": False, "reference": "base", **v} for name, v in compared.items()}}


BREAKDOWNS = {
    # A: a researcher's proposal, rated 9: its fast variant kept quality; the broken one did not
    "A": variants(fast={"quality_kept": True, "speedup": 2.5, "compression": 1.0, "energy_estimated": True,
                        "energy": {"mean": 0.001, "std": 0.0001, "ci95": None}},
                  broken={"quality_kept": False, "speedup": 9.0, "compression": 8.0, "energy_estimated": True,
                          "energy": {"mean": 0.0001, "std": 0.0, "ci95": None}}),
    # B: the validator's follow-up, rated 7: the most compression, with the validator's CI
    "B": variants(small={"quality_kept": True, "speedup": 1.2, "compression": 4.0, "compression_ci95": [3.5, 4.5],
                         "energy_estimated": False, "energy": {"mean": 0.002, "std": 0.0001, "ci95": None}}),
}


async def _experiment(store: Store, key: str, *, status: E, rating: float | None = None, source: str = "cli",
                      metadata: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                      modifications: Modifications | None = None) -> int:
    exp_id = await store.create_experiment(NewExperiment(
        name=f"exp-{key.lower()}", catalog="fake", params={"which": key} if params is None else params, plan=PLAN,
        seeds=5, source=source, metadata=metadata_of(metadata or {}), modifications=modifications or Modifications()),
        status=E.APPROVED if status in (E.DONE, E.FAILED) else status)
    if status == E.DONE:
        await store.set_experiment_status(exp_id, E.ANALYZING)
        await store.set_experiment_status(exp_id, E.DONE)
    elif status == E.FAILED:
        await store.set_experiment_status(exp_id, E.FAILED, error="no run succeeded")
    if rating is not None:
        breakdown = {"rating": rating, "variants": BREAKDOWNS.get(key, variants()), "criteria": []}
        await store.update_experiment(exp_id, rating=rating, rating_breakdown=breakdown)
    return exp_id


async def build(root: Any) -> dict[str, int]:
    store = await Store.open(root / "lab.db")
    ids: dict[str, int] = {}
    try:
        async def experiment(key: str, **fields: Any) -> None:
            ids[key] = await _experiment(store, key, **fields)

        sprint = {"research": {"sprint_id": 1, "kind": "baseline"}}
        await experiment("A", source="agents", metadata=sprint, status=E.DONE, rating=9)
        await experiment("B", source="validator", metadata={"research": {"proposed_by": "validator", "rule": "seeds"}},
                         status=E.DONE, rating=7)
        await experiment("C", status=E.DONE, rating=5)                  # a person's, with `lab run`
        await experiment("D", source="job", status=E.FAILED, rating=3)  # a person's job file
        await experiment("E", source="agents", metadata=sprint, status=E.AWAITING_APPROVAL)
        await store.reject_experiment(ids["E"], "not today")
        await experiment("F", source="agents", metadata=sprint, status=E.AWAITING_APPROVAL)
        await experiment("G", source="tui", status=E.FAILED)            # from the control room, unrated
        for agent, tokens, cost in (("researcher", (100, 20), 0.01), ("researcher", (50, 10), 0.005),
                                    ("architect", (0, 0), 0.0), ("validator", (0, 0), 0.0), ("lab", (0, 0), 0.0)):
            await store.add_message(agent, "said", tokens_in=tokens[0], tokens_out=tokens[1], cost_usd=cost)
    finally:
        await store.close()
    return ids


async def add_rerun_and_reproduction(root: Any) -> dict[str, int]:
    """Three more of a person's experiments, one result by science/counting.py: O (rated 9, a
    breakthrough by its rating), R, its re-run with the same parameters (rated 6: the result, O
    superseded), and P, a reproduction of R (rated 7: R's evidence)."""
    store = await Store.open(root / "lab.db")
    try:
        o = await _experiment(store, "O", params={"which": "O"}, status=E.DONE, rating=9)
        r = await _experiment(store, "R", params={"which": "O"}, status=E.DONE, rating=6)
        p = await _experiment(store, "P", params={"which": "O"}, status=E.DONE, rating=7,
                              modifications=Modifications(kind=CommandKind.REPRODUCTION, of=r, original=Original()))
    finally:
        await store.close()
    return {"O": o, "R": r, "P": p}
