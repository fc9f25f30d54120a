"""Store rows for tests that feed a room's function directly: each field the row type requires,
with a plain default, the test's own fields over them."""

from __future__ import annotations

from typing import Any

from db import Experiment, ExperimentState, Run, RunState


def experiment(**fields: Any) -> Experiment:
    base: dict[str, Any] = {"id": 1, "name": "exp", "catalog": "logreg", "status": ExperimentState.DONE,
                            "params": {}, "plan": []}
    return Experiment.of({**base, **fields})


def run(**fields: Any) -> Run:
    base: dict[str, Any] = {"id": 1, "experiment_id": 1, "catalog": "logreg", "variant": "baseline", "seed": 0,
                            "status": RunState.SUCCEEDED, "params": {}, "variant_params": {}, "depends_on": []}
    return Run.of({**base, **fields})
