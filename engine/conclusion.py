"""Concluding an experiment whose runs have all ended: done when anything succeeded, else failed."""

from __future__ import annotations

from collections import Counter

from db import ExperimentState as E
from db import Store
from db.states import RUN_OK


async def conclude(store: Store, exp_id: int) -> None:
    exp = await store.get_experiment(exp_id)
    if exp is None or exp.status != E.ANALYZING:
        return
    runs = await store.list_runs(exp_id)
    counts = Counter(r.status for r in runs)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    succeeded = [r for r in runs if r.status in RUN_OK]
    if succeeded:
        await store.set_experiment_status(exp_id, E.DONE, message=f"experiment {exp_id} done: {summary}")
    else:
        first_error = next((r.error for r in runs if r.error), "no run succeeded")
        await store.set_experiment_status(exp_id, E.FAILED, error=f"no run succeeded ({summary}); "
                                          f"first error: {first_error}",
                                          message=f"experiment {exp_id} failed: {summary}")
