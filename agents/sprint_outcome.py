"""Where a step of the sprint pipeline left a sprint (agents/sprint.py), as `lab sprint --json`
writes it and the control room reads it back (tui/sprint.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from contract.jsonvalue import JsonObject
from db.states import SPRINT_FINISHED, SprintStage


class Unheld(StrEnum):
    """A step that ended without this host holding the sprint (never a sprint's stored stage)."""

    BUSY = "busy"  # another host is discussing a sprint right now
    LOST = "lost"  # another host took the sprint over


OutcomeStage = SprintStage | Unheld


def stage_of(value: str) -> OutcomeStage:
    """The stage a `lab sprint --json` names; ValueError for any other word."""
    try:
        return Unheld(value)
    except ValueError:
        return SprintStage(value)


@dataclass
class Outcome:
    sprint_id: int | None
    stage: OutcomeStage
    experiment_id: int | None = None
    note: str = ""

    @property
    def finished(self) -> bool:
        return self.stage in SPRINT_FINISHED

    def to_json(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def of_json(cls, value: object) -> Outcome:
        """The outcome `to_json` wrote; ValueError when the value is not one."""
        if not isinstance(value, dict) or not isinstance(value.get("stage"), str):
            raise ValueError("not a sprint outcome: no stage")
        sprint_id, exp_id, note = value.get("sprint_id"), value.get("experiment_id"), value.get("note")
        if not all(v is None or isinstance(v, int) for v in (sprint_id, exp_id)):
            raise ValueError("not a sprint outcome: its ids are not numbers")
        return cls(sprint_id, stage_of(value["stage"]), exp_id, note if isinstance(note, str) else "")
