"""Numbers in the agents' sentences: every value with its unit, formatted the same everywhere."""

from __future__ import annotations

from typing import Any

from contract import units


def num(x: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits ('n/a' when missing)."""
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)):
        return "n/a"
    return f"{x:.{digits}g}"


def percent(fraction: Any, digits: int = 1) -> str:
    return units.percent(fraction, digits)


def points(delta: Any, digits: int = 1) -> str:
    """A change of a fraction in percentage points, signed."""
    return units.points(delta, digits)


def ci_points(ci: Any, digits: int = 1) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"{points(ci[0], digits)}..{points(ci[1], digits)}"


def ci_percent(ci: Any, digits: int = 1) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"{ci[0] * 100:.{digits}f}..{ci[1] * 100:.{digits}f} %"


times = units.times
pvalue = units.pvalue


def energy(kwh: Any, estimated: bool | None = None) -> str:
    return units.energy(kwh, estimated)


def duration(seconds: Any) -> str:
    return units.duration(seconds)


def listing(items: list[str], limit: int = 6) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def the(role: str, name: Any, start: bool = False) -> str:
    """'the baseline fp32', or 'the baseline' when the variant is named for its role (never
    'the baseline baseline'); `start`: 'The ...' to open a sentence."""
    return ("The" if start else "the") + (f" {role}" if str(name) == role else f" {role} {name}")
