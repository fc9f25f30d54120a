"""Which queued runs start now, and where.

`place` is the decision alone (no I/O): the queue comes ordered by the store (priority, then
age); each run takes a free slot of its device kind or waits; a run that needs a GPU in a lab
without one is refused rather than left waiting forever. `Scheduler` applies it: it asks the
store for the queue, hands each placed run to the launcher and settles the refused ones.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from contract.diskspace import is_full
from contract.layout import LabDir
from contract.runspec import DeviceKind
from db import Run, Store
from db import RunState as R
from engine.ports import OnExperimentEnded
from engine.slots import Slots, busy_text

log = logging.getLogger("engine.scheduler")

UNAVAILABLE_LOG_S = 60.0  # how often "cannot start runs now" is logged while it lasts
NO_GPU = ("needs a GPU but this lab has none (set [slots] gpus in config.toml, or run it with "
          "-p device=cpu)")


@dataclass(frozen=True)
class Placement:
    """A queued run and the device it starts on now, or why it never can (`refusal`)."""

    run: Run
    device: str | None = None
    refusal: str | None = None


def place(queued: Iterable[Run], slots: Slots) -> list[Placement]:
    """The runs that start now (their slots taken) and those refused, in queue order; a run
    with no free slot of its kind is left out and waits for the next turn."""
    placed: list[Placement] = []
    for run in queued:
        if run.device_kind == DeviceKind.CUDA and not slots.has_gpus():
            placed.append(Placement(run, refusal=NO_GPU))
            continue
        device = slots.acquire(run.device_kind)
        if device is not None:
            placed.append(Placement(run, device=device))
    return placed


class Scheduler:
    def __init__(self, store: Store, lab: LabDir, slots: Slots, *,
                 launch: Callable[[Run, str], Awaitable[None]],
                 unavailable: Callable[[], str | None], on_experiment_ended: OnExperimentEnded,
                 demand: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.lab = lab
        self.slots = slots
        self._launch = launch
        self._unavailable = unavailable  # the executor's reason it cannot start runs now, if any
        self._demand = demand            # told how many runs are queued, before any is placed
        self._ended = on_experiment_ended
        self._unavailable_logged = 0.0
        self.waiting = 0                 # queued runs left after the last turn
        self._wait_reason: str | None = ""  # "": not written yet by this engine

    async def schedule(self) -> None:
        queued = await self.store.queued_runs()
        self.waiting = len(queued)
        if self._demand is not None:
            await self._demand(len(queued))  # e.g. the warm worker starts: the runs wait for it
        why_not = self._unavailable()
        if why_not is not None:
            if time.monotonic() - self._unavailable_logged > UNAVAILABLE_LOG_S:
                self._unavailable_logged = time.monotonic()
                log.info("runs wait: %s", why_not)
            await self._waiting(why_not if queued else None)
            return
        placements = place(queued, self.slots)
        self.waiting = len(queued) - len(placements)
        placed = {p.run.id for p in placements}
        held = [r for r in queued if r.id not in placed]
        await self._waiting(busy_text(self.slots, held[0].device_kind) if held else None)
        for i, p in enumerate(placements):
            if p.refusal is not None:
                await self.refuse(p.run, p.refusal)
                continue
            assert p.device is not None
            try:
                await self._launch(p.run, p.device)
            except Exception:
                for left in placements[i:]:  # this one and those not yet launched
                    if left.device is not None:
                        self.slots.release(left.device)
                raise

    async def _waiting(self, reason: str | None) -> None:
        """Tell every reader why queued runs wait (`lab status`, `lab run --wait`, the control
        room), written only when it changes."""
        if reason != self._wait_reason:
            try:
                await self.store.set_runs_wait(reason)
            except (sqlite3.OperationalError, OSError) as exc:
                if not is_full(exc):
                    raise
                return  # a full disk: disk.notice says why runs wait; written here once there is room
            self._wait_reason = reason

    async def refuse(self, run: Run, reason: str) -> None:
        """End a run that can never start here as failed, with the reason."""
        await self.store.start_run(run.id, device="none", run_dir=str(self.lab.run_dir(run.id)))
        outcome = await self.store.finish_run(run.id, R.FAILED, error=reason)
        if outcome.experiment_finished:
            self._ended(run.experiment_id)
