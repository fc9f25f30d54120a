"""Numbers with their units, written one way in the control room, the command line, the agents'
sentences and the reports. A missing value is written `missing` (the control room's tables use
"-", sentences and reports "n/a"); everything else does not depend on where it is shown."""

from __future__ import annotations

from typing import Any

MISSING = "n/a"
#: said after an energy that no hardware counter (RAPL, NVML) measured
MODELLED = " (modelled from CPU time)"


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


ENERGY_UNITS = (("kWh", 1.0), ("Wh", 1e3), ("mWh", 1e6), ("µWh", 1e9))
CO2_UNITS = (("kg", 1.0), ("g", 1e3), ("mg", 1e6), ("µg", 1e9))


def unit_for(value: float, units: tuple[tuple[str, float], ...] = ENERGY_UNITS) -> tuple[str, float]:
    """(unit, scale) of the first unit (largest first) in which `value` reads at least 1 after
    rounding to 3 significant digits (999.98 Wh is 1 kWh, not 1e+03 Wh); the last unit otherwise.
    A table column takes the unit of its largest value, so all its cells share it."""
    for unit, scale in units:
        if abs(float(f"{value * scale:.3g}")) >= 1:
            return unit, scale
    return units[-1]


def _scaled(value: float, units: tuple[tuple[str, float], ...]) -> str:
    unit, scale = unit_for(value, units)
    return f"{float(f'{value * scale:.3g}'):g} {unit}"


def energy(kwh: Any, estimated: bool | None = None, missing: str = MISSING) -> str:
    """Energy in the unit that keeps 3 significant digits readable: 5e-7 kWh is '500 µWh';
    `estimated`: modelled from CPU time, not measured, and said so."""
    if not is_number(kwh):
        return missing
    return _scaled(float(kwh), ENERGY_UNITS) + (MODELLED if estimated else "")


def co2(kg: Any, estimated: bool | None = None, missing: str = MISSING) -> str:
    if not is_number(kg):
        return missing
    return _scaled(float(kg), CO2_UNITS[:3]) + " CO2" + (" (modelled)" if estimated else "")



def duration(seconds: Any, missing: str = MISSING) -> str:
    """'4.2 s' under 10 s, '42 s' under a minute, then '1m16s' (75.6 s, rounded) and '2h05m'."""
    if not is_number(seconds):
        return missing
    seconds = max(0.0, float(seconds))
    if seconds < 59.5:
        return f"{seconds:.1f} s" if seconds < 9.95 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"



def percent(fraction: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A fraction as a percentage: 0.8123 -> '81.2 %'."""
    return f"{fraction * 100:.{digits}f} %" if is_number(fraction) else missing


def points(delta: Any, digits: int = 1, missing: str = MISSING) -> str:
    """A change of a fraction in percentage points, signed: -0.002 -> '-0.2'."""
    return f"{delta * 100:+.{digits}f}" if is_number(delta) else missing


def times(x: Any, missing: str = MISSING) -> str:
    """A speedup or compression factor: '1.80x', '12.3x'."""
    if not is_number(x):
        return missing
    return f"{x:.2f}x" if abs(x) < 10 else f"{x:.1f}x"


def pvalue(p: Any, missing: str = MISSING) -> str:
    if not is_number(p):
        return missing
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
