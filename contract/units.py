"""The one formatter: every number the lab shows (the control room, the `lab` command line, the
agents' sentences, the reports, the summary, the paper, the findings, the rating) is written here,
with its unit, so one value reads the same everywhere (issue 23). What a quantity is (its kind,
how a change of it is said) is `contract.quantities`; this module writes values, changes and
intervals as the kind says, and the lab's plain units: energy, CO2, durations, times of day,
percentages, factors, p-values, sizes, power, temperatures and money.

A missing value is written `MISSING`, "n/a", in every output: it reads the same in a table, a
sentence, Markdown, LaTeX and a terminal, and cannot be taken for a minus sign or a zero change as
the control room's former "-" could. Bytes are written in binary units (KiB, MiB, GiB); an
interval of a quantity that cannot be negative never goes below 0.
"""

from __future__ import annotations

import math
import time
from typing import Any

from contract.quantities import CO2_UNITS, ENERGY_UNITS, KINDS, Change, Kind, clip, kind_of, relative, unit_divisor, unit_for

MISSING = "n/a"
#: said after an energy that no hardware counter (RAPL, NVML) measured
MODELLED = " (modelled from CPU time)"


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _scaled(value: float, units: tuple[tuple[str, float], ...]) -> str:
    unit, scale = unit_for(value, units)
    return f"{float(f'{value * scale:.3g}'):g} {unit}"


def energy(kwh: Any, estimated: bool | None = None, missing: str = MISSING) -> str:
    """Energy in the unit that keeps 3 significant digits readable: 5e-7 kWh is '500 µWh';
    `estimated`: modelled from CPU time, not measured, and said so."""
    if not is_number(kwh):
        return missing
    return _scaled(float(kwh), ENERGY_UNITS) + (MODELLED if estimated else "")


def energy_mark(estimated: bool | None, short: bool = False) -> str:
    """How an energy was obtained, as a suffix: ' (modelled from CPU time)' without hardware
    counters, ' (measured)' with them (nothing when `short`), nothing when unknown."""
    if estimated is None:
        return ""
    return MODELLED if estimated else ("" if short else " (measured)")


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
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def when(t: float | None) -> str:
    """A moment: '2026-12-07 04:06:36' (local time)."""
    return MISSING if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def clock_time(t: float | None) -> str:
    """The local time of day, HH:MM:SS."""
    return MISSING if t is None else time.strftime("%H:%M:%S", time.localtime(t))


def since(t: float | None, now: float) -> str:
    """When something happened: the time of day if today, else the date and time."""
    if t is None:
        return MISSING
    same_day = time.localtime(t)[:3] == time.localtime(now)[:3]
    return clock_time(t) if same_day else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def ago(t: float | None, now: float | None = None) -> str:
    return MISSING if t is None else duration((now or time.time()) - t) + " ago"


def eta(done: float | None, total: float | None, elapsed: float | None) -> str:
    """Remaining time of a run at its current pace."""
    if done is None or not total or elapsed is None or done <= 0:
        return MISSING
    if done >= total:
        return "0 s"
    return duration(elapsed * (total - done) / done)


def percent(fraction: Any, digits: int = 1, missing: str = MISSING, signed: bool = False) -> str:
    """A fraction as a percentage with `digits` decimals: 0.8123 -> '81.2 %'; `signed` (a relative
    change): 0.012 -> '+1.2 %'."""
    return f"{fraction * 100:{'+' if signed else ''}.{digits}f} %" if is_number(fraction) else missing


def percent_interval(ci: Any, digits: int = 1, missing: str = MISSING, signed: bool = False) -> str:
    """An interval of fractions as percentages in one unit: '80.1..82.3 %'; `signed` (a relative
    change): '-0.50..+1.20 %'."""
    pair = _pair(ci)
    if pair is None:
        return missing
    sign = "+" if signed else ""
    return f"{pair[0] * 100:{sign}.{digits}f}..{pair[1] * 100:{sign}.{digits}f} %"


def num(x: Any, digits: int = 3, missing: str = MISSING) -> str:
    """A number of no declared unit with `digits` significant digits."""
    return f"{x:.{digits}g}" if is_number(x) else missing


def power(watts: Any, missing: str = MISSING) -> str:
    """A device's power draw: '287 W'."""
    return f"{watts:.0f} W" if is_number(watts) else missing


def temperature(celsius: Any, missing: str = MISSING) -> str:
    """A device's temperature: '71 °C'."""
    return f"{celsius:.0f} °C" if is_number(celsius) else missing


def usd(x: Any) -> str:
    """Money: '$0.42', '$0.0042' under a cent."""
    if not is_number(x):
        return MISSING
    return f"${x:.2f}" if x >= 0.01 or x == 0 else f"${x:.4f}"


def pvalue(p: Any, missing: str = MISSING) -> str:
    """A p-value as a table's cell shows it: '0.034', '< 0.001'."""
    if not is_number(p):
        return missing
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_equals(p: Any, missing: str = MISSING) -> str:
    """A p-value as a sentence says it, with the same figure as `pvalue`: 'p = 0.034', 'p < 0.001'."""
    shown = pvalue(p, missing)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


# -- values, intervals and changes of a quantity, as its kind says -----------------------------

def _num(x: Any) -> bool:
    return is_number(x) and math.isfinite(float(x))


def _g(x: float, digits: int = 3) -> str:
    """`digits` significant digits, without an exponent for ordinary magnitudes."""
    if x == 0:
        return "0"
    out = f"{x:.{digits}g}"
    if "e" in out and 1e-4 <= abs(x) < 1e15:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
        out = f"{x:.{decimals}f}"
    return out


def _decimals(x: float, digits: int) -> int:
    """Decimals that give `x` `digits` significant digits: the bounds of an interval share the
    decimals of the larger one ('142.2..148.0', not '142.2..148')."""
    if x == 0 or not math.isfinite(x):
        return 0
    return min(9, max(0, digits - 1 - math.floor(math.log10(abs(x)))))


def _bare(kind: Kind, x: float, divisor: float, digits: int, decimals: int | None = None) -> str:
    """The number alone, in the unit `divisor` picked; `decimals`: fixed (an interval's bounds)."""
    if kind is Kind.FRACTION:
        return f"{x * 100:.{max(0, digits - 2)}f}"
    if kind is Kind.RATIO:
        return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"
    if kind is Kind.BYTES and divisor == 1:
        return f"{x:.0f}"
    if kind is Kind.COUNT and float(x).is_integer():
        return f"{int(x):,}"
    if decimals is None and kind in (Kind.PERPLEXITY, Kind.LOSS):
        decimals = _decimals(x, digits)  # '145.0 ppl', not '145 ppl' beside '145.1 ppl'
    if decimals is not None:
        return f"{x / divisor:.{decimals}f}"
    return _g(x / divisor, digits)


def _join(number: str, unit: str) -> str:
    if not unit:
        return number
    return f"{number}{unit}" if unit == "x" else f"{number} {unit}"


def value(x: Any, kind: Kind | str, digits: int = 4, *, modelled: bool | None = None, missing: str = MISSING) -> str:
    """A value with its unit: 0.8123 -> '81.23 %' (FRACTION), 342741 -> '334.7 KiB', 145.05 ->
    '145.1 ppl', 4.41 -> '4.41x', 5e-7 kWh -> '500 µWh' (and ' (modelled from CPU time)' when
    `modelled`)."""
    kind = Kind(kind) if not isinstance(kind, Kind) else kind
    if not _num(x):
        return missing
    x = float(x)
    if kind is Kind.ENERGY:
        return energy(x, modelled)
    if kind is Kind.CO2:
        return co2(x)
    unit, divisor = unit_divisor(kind, x)
    return _join(_bare(kind, x, divisor, digits), unit)



def _pair(ci: Any) -> tuple[float, float] | None:
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and _num(ci[0]) and _num(ci[1]):
        return float(ci[0]), float(ci[1])
    return None


def size(n: Any, missing: str = MISSING) -> str:
    """Bytes in binary units: '512 B', '1.5 KiB', '36 MiB' (the control room, `lab status`, disk space)."""
    return value(n, Kind.BYTES, missing=missing)


def interval(ci: Any, kind: Kind | str, digits: int = 4, missing: str = MISSING) -> str:
    """A 95 % interval in one unit: '81.20..83.40 %', '330.1..339.3 KiB', '0..2.1 mWh'."""
    kind = Kind(kind) if not isinstance(kind, Kind) else kind
    pair = _pair(ci)
    if pair is None:
        return missing
    lo, hi = clip(*pair, kind)
    if kind is Kind.ENERGY or kind is Kind.CO2:
        unit, divisor = unit_divisor(kind, max(abs(lo), abs(hi)))
        return f"{_g(lo / divisor, 3)}..{_g(hi / divisor, 3)} {unit}"
    unit, divisor = unit_divisor(kind, max(abs(lo), abs(hi)))
    dec = _decimals(max(abs(lo), abs(hi)) / divisor, digits)
    return _join(f"{_bare(kind, lo, divisor, digits, dec)}..{_bare(kind, hi, divisor, digits, dec)}", unit)


def mean_std(mean: Any, std: Any, kind: Kind | str, digits: int = 4) -> str:
    """'81.23 ± 0.40 %', '145.1 ± 2.3 ppl', '334.7 ± 0 KiB' (identical over seeds)."""
    kind = Kind(kind) if not isinstance(kind, Kind) else kind
    if not _num(mean):
        return MISSING
    m = float(mean)
    if not _num(std):
        return value(m, kind, digits)
    s = float(std)
    if abs(s) <= 1e-9 * abs(m):
        s = 0.0  # identical values over seeds: rounding noise is not a spread
    if kind is Kind.FRACTION:
        d = max(0, digits - 2)
        return f"{m * 100:.{d}f} ± {s * 100:.{d}f} %"
    if kind is Kind.ENERGY or kind is Kind.CO2:
        unit, divisor = unit_divisor(kind, m)
        return f"{_g(m / divisor, 3)} ± {_g(s / divisor, 2)} {unit}"
    unit, divisor = unit_divisor(kind, m)
    return _join(f"{_bare(kind, m, divisor, digits)} ± {_g(s / divisor, 2)}", unit)


# -- changes --------------------------------------------------------------------------------

def _signed(x: float, digits: int) -> str:
    out = _g(x, digits)
    return out if out.startswith("-") else "+" + out


def _pct_decimals(*percents: float) -> int:
    """Decimals of a relative change in %: 2, more for a change smaller than 0.01 %."""
    top = max((abs(p) for p in percents), default=0.0)
    return 2 if top == 0 or top >= 0.01 else _decimals(top, 2)




def change(delta: Any, kind: Kind | str, reference: Any = None, digits: int = 3, missing: str = MISSING,
           compact: bool = False) -> str:
    """A change of the quantity, said as its kind says it: '+1.2 points' (a fraction), '+0.0904 ppl
    (+0.06 % of the reference)' (perplexity, loss), '+3.2 ms' (anything else, its unit).
    `compact` (a narrow table cell): '+1.2 pt', '+0.0904 ppl'."""
    kind = Kind(kind) if not isinstance(kind, Kind) else kind
    if not _num(delta):
        return missing
    d = float(delta)
    how = KINDS[kind].change
    if how is Change.POINTS:
        return f"{d * 100:+.{max(1, digits - 2)}f} " + ("pt" if compact else "points")
    if how is Change.RELATIVE:
        rel = None if compact else relative(d, reference)
        out = _join(_signed(d, digits), KINDS[kind].unit)
        if rel is None:
            return out
        return out + f" ({percent(rel, _pct_decimals(rel * 100), signed=True)} of the reference)"
    unit, divisor = unit_divisor(kind, abs(d))
    return _join(_signed(d / divisor, digits), unit)


def change_interval(ci: Any, kind: Kind | str, reference: Any = None, digits: int = 3, missing: str = MISSING,
                    compact: bool = False) -> str:
    """The 95 % interval of a change in the same words: '-0.3..+2.1 points', '-3.71..+3.89 ppl
    (-2.56..+2.68 %)'; `compact`: '-0.3..+2.1 pt', '-3.71..+3.89 ppl'."""
    kind = Kind(kind) if not isinstance(kind, Kind) else kind
    pair = _pair(ci)
    if pair is None:
        return missing
    lo, hi = pair
    how = KINDS[kind].change
    if how is Change.POINTS:
        d = max(1, digits - 2)
        return f"{lo * 100:+.{d}f}..{hi * 100:+.{d}f} " + ("pt" if compact else "points")
    if how is Change.RELATIVE:
        dec = _decimals(max(abs(lo), abs(hi)), digits)
        out = _join(f"{lo:+.{dec}f}..{hi:+.{dec}f}", KINDS[kind].unit)
        rl, rh = (None, None) if compact else (relative(lo, reference), relative(hi, reference))
        if rl is None or rh is None:
            return out
        return out + f" ({percent_interval((rl, rh), _pct_decimals(rl * 100, rh * 100), signed=True)})"
    unit, divisor = unit_divisor(kind, max(abs(lo), abs(hi)))
    dec = _decimals(max(abs(lo), abs(hi)) / divisor, digits)
    return _join(f"{lo / divisor:+.{dec}f}..{hi / divisor:+.{dec}f}", unit)


def margin(fraction: Any, kind: Kind | str) -> str:
    """A non-inferiority margin ("quality kept") as the kind says a change: '1 point' of a fraction
    (accuracy), '3 % of the reference' of a perplexity or a loss, else the value in its unit."""
    if not _num(fraction):
        return MISSING
    said = {Change.POINTS: "point", Change.RELATIVE: "% of the reference"}.get(KINDS[Kind(kind)].change)
    pct = float(fraction) * 100
    if said == "point":
        return f"{pct:g} point" + ("" if pct == 1 else "s")
    return f"{pct:g} {said}" if said else value(float(fraction), kind)


def margin_rule(fraction: Any) -> str:
    """The margin the lab applies to every kind a quality can have, for a rule that names no
    metric: '1 point of a fraction (accuracy), 1 % of the reference for a perplexity or a loss'."""
    by_change: dict[Change, list[Kind]] = {}
    for kind, kinfo in KINDS.items():
        by_change.setdefault(kinfo.change, []).append(kind)
    points = margin(fraction, by_change[Change.POINTS][0])
    relative_kinds = " or a ".join(k.value for k in by_change[Change.RELATIVE])
    return f"{points} of a fraction (accuracy), {margin(fraction, Kind.PERPLEXITY)} for a {relative_kinds}"


def ratio(x: Any, missing: str = MISSING) -> str:
    """A cost ratio or a factor: '1.80x', '12.3x'."""
    return value(x, Kind.RATIO, missing=missing)


def ratio_interval(ci: Any, missing: str = MISSING) -> str:
    """'1.70..1.90x' (a ratio is never below 0)."""
    return interval(ci, Kind.RATIO, missing=missing)


def with_interval(text: str, ci_text: str) -> str:
    """'value (95 % CI lo..hi)', or the value alone without an interval."""
    return text if ci_text == MISSING else f"{text} (95 % CI {ci_text})"


def of(key: str | None, x: Any, digits: int = 4, missing: str = MISSING) -> str:
    """A result value with the unit its key names (`kind_of`)."""
    return value(x, kind_of(key), digits, missing=missing)


def result_value(key: str, x: Any) -> str:
    """A result value as a table shows it: a number with the unit its key names, anything else
    (a string, a flag) as it is."""
    if x is None:
        return MISSING
    return of(key, x) if is_number(x) else str(x)


def summary(key: str, s: Any) -> str:
    """'mean ± std' of a summary (`{"mean", "std", "ci95"}`) in the unit `key` names."""
    if not isinstance(s, dict):
        return MISSING
    return mean_std(s.get("mean"), s.get("std"), kind_of(key))


def summary_ci(key: str, s: Any) -> str:
    """A summary's 95 % interval in the unit `key` names (never below 0 where it cannot be)."""
    if not isinstance(s, dict):
        return MISSING
    return interval(s.get("ci95"), kind_of(key))
