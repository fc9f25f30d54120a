"""Where other rooms plug into the engine.

- `finishers()`: what runs when all runs of an experiment have ended, before it is concluded
  done or failed (the validator rates it); each gets the store and the experiment id and must
  not raise for an experiment it cannot handle.
- `background_tasks(engine)`: long-lived tasks started with the engine (the research driver).
- `run_module(catalog, default)`: the program that runs a run of a catalog entry (generated
  experiment code runs in the agents' sandbox instead of the experiments package).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from contract.diskspace import says_full
from db import Store

if TYPE_CHECKING:
    from engine.ports import EngineControl, FinishStep

log = logging.getLogger("engine.hooks")

GENERATED_CATALOG = "generated"
SANDBOX_MODULE = "agents.sandbox"


async def validate(store: Store, exp_id: int) -> None:
    """Rate the experiment in a subprocess: the validator needs scipy, which the engine must not
    load (about 100 MB and 1.5 s). The engine's loop keeps running while it works."""
    from agents.subprocesses import run_validator

    lab = store.path.parent
    try:
        done = await run_validator(str(lab), exp_id)  # cancelled: the engine is stopping; the next one rates it
    except OSError as exc:
        log.error("cannot start the validator for experiment %d: %s", exp_id, exc)
        return
    if not done.ok:
        why = done.why
        if says_full(why):  # not a verdict on the experiment: it is rated once space is back
            raise OSError(errno.ENOSPC, f"the validator of experiment {exp_id} could not write its results ({why})")
        log.warning("validator for experiment %d failed: %s", exp_id, why)
        await store.add_event("validator.failed", f"experiment {exp_id} could not be rated: {why}",
                              experiment_id=exp_id)


def finishers() -> list[FinishStep]:
    return [validate]


def background_tasks(engine: EngineControl) -> list[tuple[str, Coroutine[Any, Any, None]]]:
    from engine.research import ResearchDriver

    return [("research driver", ResearchDriver(engine).run())]


def run_module(catalog: str, default: str) -> str:
    return SANDBOX_MODULE if catalog == GENERATED_CATALOG else default
