"""From an experiment's plan (variants with dependencies) to its runs (variants x seeds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from contract.params import ParamValues
from contract.plan import PlanStep


class PlanError(ValueError):
    """The plan is not a DAG of known variants."""


@dataclass(frozen=True)
class RunDefaults:
    """Limits given to every run of an experiment (from config.toml unless the params say)."""

    timeout_s: float | None = 3600.0
    mem_limit_bytes: int | None = None
    max_attempts: int = 2


@dataclass
class PlannedRun:
    variant: str
    seed: int
    variant_params: ParamValues  # as the plan gives them (the engine's spec checks their shape)
    depends_on: list[str] = field(default_factory=list)  # variant names, same seed
    is_baseline: bool = False


def topological(variants: Sequence[PlanStep]) -> list[PlanStep]:
    """Variants ordered so that each comes after its dependencies; PlanError on cycles."""
    by_name = {v.name: v for v in variants}
    if len(by_name) != len(variants):
        raise PlanError("the plan names a variant twice")
    ordered: list[PlanStep] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise PlanError(f"the plan has a dependency cycle: {' -> '.join((*chain, name))}")
        if name not in by_name:
            raise PlanError(f"variant {chain[-1]!r} depends on unknown variant {name!r}")
        state[name] = 1
        for dep in by_name[name].depends_on:
            visit(dep, (*chain, name))
        state[name] = 2
        ordered.append(by_name[name])

    for v in variants:
        visit(v.name, ())
    return ordered


def expand(plan: Sequence[PlanStep], seeds: int) -> list[PlannedRun]:
    """Every variant for every seed 0..seeds-1, dependencies before dependents."""
    ordered = topological(plan)
    return [
        PlannedRun(variant=v.name, seed=seed, variant_params=dict(v.params), depends_on=list(v.depends_on),
                   is_baseline=v.baseline)
        for seed in range(seeds)
        for v in ordered
    ]
