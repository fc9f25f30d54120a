"""Concluding an experiment whose runs have all ended: its finish steps (the validator rates
it), its final state, its commit to the lab's git record.

Each experiment is concluded by one task at a time: when its retried runs end again while a
round is still busy (writing its report), one more round follows as soon as that one is over.
"""

from __future__ import annotations

from collections.abc import Callable

from contract.diskspace import DiskWatch, is_full
from db import Store
from engine.ports import FinishStep, Spawn
from records.git import Recorder

ANALYSIS_BYTES = 2**20  # the rating, findings and events of one experiment (an estimate, for the disk notice)


class ExperimentFinisher:
    def __init__(self, store: Store, steps: list[FinishStep], recorder: Recorder, *, spawn: Spawn,
                 stopping: Callable[[], bool], disk: DiskWatch) -> None:
        self.disk = disk
        self.waiting: set[int] = set()  # stopped by a full disk; concluded again once space is back
        self.store = store
        self.steps = steps
        self.recorder = recorder
        self._spawn = spawn
        self._stopping = stopping
        self._busy: set[int] = set()
        self._again: set[int] = set()

    def analyze(self, exp_id: int) -> None:
        """All runs of an experiment ended: validate, rate and record it, in the background."""
        if exp_id in self._busy:
            self._again.add(exp_id)
            return
        self._busy.add(exp_id)
        self._spawn(self._conclude(exp_id), f"analyse experiment {exp_id}")

    async def _conclude(self, exp_id: int) -> None:
        from engine.conclusion import conclude  # keeps start-up light

        try:
            with self.disk.needs(f"the analysis of experiment {exp_id}", ANALYSIS_BYTES):
                for step in self.steps:
                    await step(self.store, exp_id)
                await conclude(self.store, exp_id)
            self.waiting.discard(exp_id)
            await self.recorder.record_safe(exp_id)
        except Exception as exc:
            if not is_full(exc):
                raise
            self.waiting.add(exp_id)  # it stays analyzing, nothing half-done: concluded again later
        finally:
            self._busy.discard(exp_id)
            if exp_id in self._again and not self._stopping():
                self._again.discard(exp_id)
                self.analyze(exp_id)

    def retry_waiting(self) -> None:
        """Space is back: conclude the experiments a full disk stopped."""
        for exp_id in sorted(self.waiting):
            self.analyze(exp_id)
