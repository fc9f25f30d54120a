"""Where other rooms plug into the engine.

- `finishers()`: what runs when all runs of an experiment have ended, before it is concluded
  done or failed (the validator rates it); each gets the store and the experiment id and must
  not raise for an experiment it cannot handle.
- `background_tasks(engine)`: long-lived tasks started with the engine (the research driver).
- `run_module(catalog, default)`: the program that runs a run of a catalog entry (generated
  experiment code runs in the agents' sandbox instead of the experiments package).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from db import Store

if TYPE_CHECKING:
    from engine.daemon import Engine, Finisher

log = logging.getLogger("engine.hooks")

VALIDATE_TIMEOUT_S = 600.0
GENERATED_CATALOG = "generated"
SANDBOX_MODULE = "agents.sandbox"


async def validate(store: Store, exp_id: int) -> None:
    """Rate the experiment in a subprocess: the validator needs scipy, which the engine must not
    load (about 100 MB and 1.5 s). The engine's loop keeps running while it works."""
    lab = store.path.parent
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agents", "validate", str(exp_id), "--dir", str(lab),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        log.error("cannot start the validator for experiment %d: %s", exp_id, exc)
        return
    try:
        _, err = await asyncio.wait_for(proc.communicate(), VALIDATE_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        err = f"ran longer than {VALIDATE_TIMEOUT_S:.0f} s".encode()
    except asyncio.CancelledError:
        proc.kill()  # the engine is stopping: the next one rates it (see agents.sprint)
        raise
    if proc.returncode:
        why = (err.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1][:300]
        log.warning("validator for experiment %d failed: %s", exp_id, why)
        await store.add_event("validator.failed", f"experiment {exp_id} could not be rated: {why}",
                              experiment_id=exp_id)


def finishers() -> list["Finisher"]:
    return [validate]


def background_tasks(engine: "Engine") -> list[tuple[str, Coroutine[Any, Any, None]]]:
    from engine.research import ResearchDriver

    return [("research driver", ResearchDriver(engine).run())]


def run_module(catalog: str, default: str) -> str:
    return SANDBOX_MODULE if catalog == GENERATED_CATALOG else default
