"""How numbers are written in reports: one format per kind of value, the same everywhere, so
that a number in a report can be traced back to the breakdown it came from."""

from __future__ import annotations

from typing import Any

from contract import units

MISSING = units.MISSING


_is_num = units.is_number


def pct(fraction: Any, digits: int = 2) -> str:
    """A fraction as a percentage: 0.8123 -> '81.23 %'."""
    return f"{fraction * 100:.{digits}f} %" if _is_num(fraction) else MISSING


def pct_ci(ci: Any, digits: int = 2) -> str:
    if not ci or not _is_num(ci[0]) or not _is_num(ci[1]):
        return MISSING
    return f"{ci[0] * 100:.{digits}f}..{ci[1] * 100:.{digits}f} %"


def pts(delta: Any, digits: int = 2) -> str:
    """A change of a fraction in percentage points, signed: -0.002 -> '-0.20'."""
    return f"{delta * 100:+.{digits}f}" if _is_num(delta) else MISSING


def pts_ci(ci: Any, digits: int = 2) -> str:
    if not ci or not _is_num(ci[0]) or not _is_num(ci[1]):
        return MISSING
    return f"{pts(ci[0], digits)}..{pts(ci[1], digits)}"


def ratio(x: Any) -> str:
    """E, speedup, compression: '2.40'."""
    return f"{x:.2f}" if _is_num(x) else MISSING


times = units.times
pvalue = units.pvalue


def effect(g: Any) -> str:
    return f"{g:+.2f}" if _is_num(g) else MISSING


def unit_of(key: str, value: float) -> tuple[str, float]:
    """The unit a result key carries (PROTOCOL §5) and the scale that keeps 3 digits readable."""
    if key.endswith("_kwh"):
        return units.unit_for(value, units.ENERGY_UNITS)
    if key.endswith("_ms"):
        return "ms", 1.0
    if key.endswith("_s"):
        return "s", 1.0
    if key.endswith("_bytes"):
        for unit, scale in (("B", 1.0), ("KB", 1 / 1024), ("MB", 1 / 1024 ** 2), ("GB", 1 / 1024 ** 3)):
            if abs(value) * scale < 1024 or unit == "GB":
                return unit, scale
    if key.endswith("_kg"):
        return units.unit_for(value, units.CO2_UNITS)
    return "", 1.0


def value(key: str, x: Any) -> str:
    """A result value with the unit its key names: accuracies as percentages, energies in the
    unit that keeps three significant digits, sizes in KB/MB, times in s or ms."""
    if not _is_num(x):
        return MISSING
    if "accuracy" in key:
        return pct(x)
    if key.endswith("_kwh"):
        return units.energy(x)
    unit, scale = unit_of(key, x)
    return f"{x * scale:.3g} {unit}".rstrip()


def mean_std(key: str, summary: Any) -> str:
    """'mean ± std' of a summary (`{"mean", "std", "ci95"}`) in the key's unit."""
    if not isinstance(summary, dict) or not _is_num(summary.get("mean")):
        return MISSING
    mean, raw_std = summary["mean"], summary.get("std")
    std: float | None = float(raw_std) if isinstance(raw_std, (int, float)) and _is_num(raw_std) else None
    if std is not None and abs(std) <= 1e-9 * abs(mean):
        std = 0.0  # identical values over seeds: rounding noise is not a spread
    if "accuracy" in key:
        return pct(mean) if std is None else f"{mean * 100:.2f} ± {std * 100:.2f} %"
    unit, scale = unit_of(key, mean)
    if std is None:
        return f"{mean * scale:.3g} {unit}".rstrip()
    return f"{mean * scale:.3g} ± {std * scale:.2g} {unit}".rstrip()


def ci(key: str, summary: Any) -> str:
    if not isinstance(summary, dict):
        return MISSING
    bounds = summary.get("ci95")
    if not bounds or not _is_num(bounds[0]) or not _is_num(bounds[1]):
        return MISSING
    if "accuracy" in key:
        return pct_ci(bounds)
    unit, scale = unit_of(key, summary.get("mean") or bounds[1])
    return f"{bounds[0] * scale:.3g}..{bounds[1] * scale:.3g} {unit}".rstrip()


def cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def energy_mark(variant: Any, short: bool = False) -> str:
    """How a variant's energy was obtained, as a suffix: ' (modelled from CPU time)' without
    hardware counters (records of before issue 10 say 'estimated'), ' (measured)' with them."""
    if not isinstance(variant, dict) or variant.get("energy_estimated") is None:
        return ""
    if variant["energy_estimated"]:
        return " (modelled from CPU time)"
    return "" if short else " (measured)"
