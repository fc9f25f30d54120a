"""From an experiment's plan (variants with dependencies) to its runs (variants x seeds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    variant_params: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)  # variant names, same seed
    is_baseline: bool = False


def topological(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Variants ordered so that each comes after its dependencies; PlanError on cycles."""
    by_name = {v["name"]: v for v in variants}
    if len(by_name) != len(variants):
        raise PlanError("the plan names a variant twice")
    ordered: list[dict[str, Any]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise PlanError(f"the plan has a dependency cycle: {' -> '.join((*chain, name))}")
        if name not in by_name:
            raise PlanError(f"variant {chain[-1]!r} depends on unknown variant {name!r}")
        state[name] = 1
        for dep in by_name[name].get("depends_on", []):
            visit(dep, (*chain, name))
        state[name] = 2
        ordered.append(by_name[name])

    for v in variants:
        visit(v["name"], ())
    return ordered


def expand(plan: list[dict[str, Any]], seeds: int) -> list[PlannedRun]:
    """Every variant for every seed 0..seeds-1, dependencies before dependents."""
    ordered = topological(plan)
    return [
        PlannedRun(
            variant=v["name"],
            seed=seed,
            variant_params=dict(v.get("params", {})),
            depends_on=list(v.get("depends_on", [])),
            is_baseline=bool(v.get("baseline", False)),
        )
        for seed in range(seeds)
        for v in ordered
    ]
