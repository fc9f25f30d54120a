"""One step of an experiment's plan: a variant, its parameters, what it depends on and what it is
compared with, as the catalog's `plan` answer gives it (experiments/declare.py's `Variant.to_json`)
and the store keeps it (the experiment's `plan` column, `plan.json` in the record)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Self

from contract.params import ParamValues
from contract.record_json import OPT, JsonRecord


@dataclass(frozen=True)
class PlanStep(JsonRecord):
    """A variant of the plan: run for every seed, after the variants it depends on (same seed)."""

    name: str
    baseline: bool = False
    depends_on: tuple[str, ...] = ()  # variant names, same seed
    params: ParamValues = field(default_factory=dict)  # the variant's own, over the experiment's
    # compared with, primary first (None: not said; plans before issue 10 name one `reference`)
    references: tuple[str, ...] | None = field(default=None, metadata=OPT)
    objective: str | None = None  # what it is meant to improve against them (None: a reference point)
    role: str | None = None  # free text: what comparison this is
    reference: str | None = field(default=None, metadata=OPT)  # the primary reference (older readers)
    reference_objectives: dict[str, str] | None = field(default=None, metadata=OPT)  # per reference, another objective

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Self:
        """The step as written; its parameters are kept as they are (the engine's spec checks them)."""
        params = data.get("params")
        step = super().from_json({k: v for k, v in data.items() if k != "params"})
        return replace(step, params=dict(params)) if isinstance(params, Mapping) else step


def plan_of(value: object) -> tuple[PlanStep, ...]:
    """A plan as JSON holds it (a list of objects with a name), typed; what is not a step is left out."""
    if not isinstance(value, list | tuple):
        return ()
    return tuple(PlanStep.from_json(v) for v in value if isinstance(v, Mapping) and isinstance(v.get("name"), str))


def plan_json(plan: tuple[PlanStep, ...] | list[PlanStep]) -> list[object]:
    """The plan as JSON holds it (the store's column, the record's plan.json)."""
    return [step.to_json() for step in plan]
