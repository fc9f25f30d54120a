"""Numbers in the agents' sentences: every value with its unit, formatted the same everywhere."""

from __future__ import annotations

from typing import Any


def num(x: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits ('n/a' when missing)."""
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)):
        return "n/a"
    return f"{x:.{digits}g}"


def percent(fraction: Any, digits: int = 1) -> str:
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool):
        return "n/a"
    return f"{fraction * 100:.{digits}f} %"


def points(delta: Any, digits: int = 1) -> str:
    """A change of a fraction in percentage points, signed."""
    if not isinstance(delta, (int, float)) or isinstance(delta, bool):
        return "n/a"
    return f"{delta * 100:+.{digits}f}"


def ci_points(ci: Any, digits: int = 1) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"{points(ci[0], digits)}..{points(ci[1], digits)}"


def ci_percent(ci: Any, digits: int = 1) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"{ci[0] * 100:.{digits}f}..{ci[1] * 100:.{digits}f} %"


def times(x: Any) -> str:
    return "n/a" if not isinstance(x, (int, float)) or isinstance(x, bool) else f"{x:.2f}x"


def pvalue(p: Any) -> str:
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def energy(kwh: Any) -> str:
    if not isinstance(kwh, (int, float)) or isinstance(kwh, bool):
        return "n/a"
    if kwh < 1e-3:
        return f"{kwh * 1e6:.3g} mWh"
    if kwh < 1:
        return f"{kwh * 1e3:.3g} Wh"
    return f"{kwh:.3g} kWh"


def duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def listing(items: list[str], limit: int = 6) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
