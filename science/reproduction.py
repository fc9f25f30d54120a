"""Did a re-run reproduce an experiment? Per variant, the new mean of each measured role against
the original 95 % confidence interval stored in the original's rating breakdown.

The verdict rests on quality: a deterministic program run with the same seeds lands on the same
accuracies, while energy and time depend on the machine and its load. Costs are compared and
shown, not required.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.modifications import Interval, Original
from contract.rating_record import Breakdown

ROLES = ("quality", "energy", "time", "size")
TOLERANCE = 1e-9  # relative: breakdowns round to 6 significant digits on both sides


@dataclass(frozen=True)
class Check:
    variant: str
    role: str
    key: str
    original_mean: float | None
    original_ci95: tuple[float, float] | None
    new_mean: float | None
    within: bool | None      # None: the original has no CI (fewer than 2 seeds) or no new value
    why: str = ""


def original_intervals(breakdown: Breakdown) -> Original:
    """The original's intervals, from its rating breakdown."""
    variants = {name: {role: Interval(v.n, v.summary(role).mean, v.summary(role).ci95) for role in ROLES}
                for name, v in breakdown.variants.items()}
    return Original(dict(breakdown.keys), variants)


def _within(x: float, ci: tuple[float, float]) -> bool:
    slack = TOLERANCE * max(1.0, abs(ci[0]), abs(ci[1]))
    return ci[0] - slack <= x <= ci[1] + slack


def compare(original: Original, new_breakdown: Breakdown) -> list[Check]:
    """`original` is `original_intervals(...)` of the original's breakdown."""
    keys = original.keys
    new_variants = new_breakdown.variants
    checks = []
    for name, roles in original.variants.items():
        for role in ROLES:
            o = roles.get(role) or Interval()
            if o.mean is None:
                continue
            lo, hi = o.ci95 or (None, None)
            ci = (float(lo), float(hi)) if lo is not None and hi is not None else None
            mine = new_variants.get(name)
            new_mean = mine.summary(role).mean if mine is not None else None
            if new_mean is None:
                checks.append(Check(name, role, keys.get(role, role), o.mean, ci, None, None,
                                    "no result in the reproduction"))
            elif ci is None:
                checks.append(Check(name, role, keys.get(role, role), o.mean, None, new_mean, None,
                                    "the original has no confidence interval (fewer than 2 seeds)"))
            else:
                checks.append(Check(name, role, keys.get(role, role), o.mean, ci, new_mean, _within(new_mean, ci)))
    return checks


def verdict(checks: list[Check]) -> tuple[bool | None, str]:
    """(reproduced, sentence): reproduced when every variant's quality mean is within its CI."""
    quality = [c for c in checks if c.role == "quality"]
    if not quality:
        return None, "nothing to compare: the original has no quality results"
    undecided = [c for c in quality if c.within is None]
    outside = [c for c in quality if c.within is False]
    costs = [c for c in checks if c.role != "quality" and c.within is not None]
    cost_note = (f"; costs: {sum(1 for c in costs if c.within)} of {len(costs)} within their intervals "
                 "(energy and time depend on the machine and its load)") if costs else ""
    if outside:
        return False, ("not reproduced: " + ", ".join(f"{c.variant} {c.key} {c.new_mean:.6g} outside "
                                                       f"{c.original_ci95[0]:.6g}..{c.original_ci95[1]:.6g}"  # type: ignore[index]
                                                       for c in outside) + cost_note)
    if undecided:
        return None, ("undecided: " + ", ".join(f"{c.variant}: {c.why}" for c in undecided) + cost_note)
    return True, (f"reproduced: the {quality[0].key} of every variant ({len(quality)}) falls within its "
                  f"original 95 % confidence interval" + cost_note)
