"""The narrow faces of the engine that its plug-ins see.

The request handler and the research driver get an `EngineControl`, not the `Engine`: what they
may read and the things they may do (stop a run, pause the queue, warm up ahead of a run).
Nothing outside engine/daemon.py imports the daemon, so the daemon can change without them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from db import Store
from engine.config import LabConfig

# what runs when all runs of an experiment have ended, before it is concluded (the validator)
FinishStep = Callable[[Store, int], Awaitable[None]]
# starts a background task owned by the engine (stopped with it)
Spawn = Callable[[Coroutine[Any, Any, Any], str], None]
# the experiment's runs have all ended: conclude it (validate, rate, record) in the background
OnExperimentEnded = Callable[[int], None]


class EngineControl(Protocol):
    """What a request handler or a background task may see and ask of the running engine."""

    store: Store
    config: LabConfig
    module: str
    paused: bool

    @property
    def lab_root(self) -> Path: ...

    @property
    def cpu_slots(self) -> int: ...

    async def cancel_run_process(self, run_id: int, reason: str) -> bool:
        """Kill a running run for a cancel; False when it is not running under this engine."""
        ...

    def warm_up(self) -> str:
        """Start the warm worker ahead of a run; what was done, in words."""
        ...
