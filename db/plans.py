"""From an experiment's plan (variants with dependencies) to its runs (variants x seeds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


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
    variant_params: dict[str, object]  # as the plan gives them (the engine's spec checks their shape)
    depends_on: list[str] = field(default_factory=list)  # variant names, same seed
    is_baseline: bool = False


PlanVariant = Mapping[str, object]  # one variant of a plan as stored: name, params, depends_on, baseline, ...


def _names(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def topological(variants: Sequence[PlanVariant]) -> list[PlanVariant]:
    """Variants ordered so that each comes after its dependencies; PlanError on cycles."""
    by_name = {str(v["name"]): v for v in variants}
    if len(by_name) != len(variants):
        raise PlanError("the plan names a variant twice")
    ordered: list[PlanVariant] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise PlanError(f"the plan has a dependency cycle: {' -> '.join((*chain, name))}")
        if name not in by_name:
            raise PlanError(f"variant {chain[-1]!r} depends on unknown variant {name!r}")
        state[name] = 1
        for dep in _names(by_name[name].get("depends_on")):
            visit(dep, (*chain, name))
        state[name] = 2
        ordered.append(by_name[name])

    for v in variants:
        visit(str(v["name"]), ())
    return ordered


def expand(plan: Sequence[PlanVariant], seeds: int) -> list[PlannedRun]:
    """Every variant for every seed 0..seeds-1, dependencies before dependents."""
    ordered = topological(plan)
    return [
        PlannedRun(
            variant=str(v["name"]),
            seed=seed,
            variant_params=dict(params) if isinstance(params := v.get("params"), dict) else {},
            depends_on=_names(v.get("depends_on")),
            is_baseline=bool(v.get("baseline", False)),
        )
        for seed in range(seeds)
        for v in ordered
    ]
