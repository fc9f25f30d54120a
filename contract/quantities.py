"""What a number is, and the one way it is written (issue 22).

Every metric has a *kind* (`Kind`): a fraction such as an accuracy, a perplexity, a loss, bytes,
seconds or milliseconds, a cost ratio, energy (measured or modelled: said by the caller), CO2, a
throughput, a count. The kind says the value's unit and how a *change* of it is said:

- a fraction in percentage points ("+1.2 points");
- a perplexity or a loss as the absolute change in its own unit and the change relative to the
  reference, in % of the reference ("+0.0904 ppl (+0.06 % of the reference)");
- a cost (bytes, time, energy) as a ratio reference / variant ("4.41x");
- anything else as a signed difference in its unit.

The validator stores the kind with its numbers (`quality_delta.kind`, the headline's
`quality_kind`), and every output (`lab rating`, the reports, the summary, the paper, the findings,
the control room, RESULTS.md) writes values, changes and intervals through `value`, `interval`,
`change`, `change_interval` and `ratio` here, so one number reads the same everywhere. Bytes are
written in binary units (KiB, MiB, GiB); an interval of a quantity that cannot be negative never
goes below 0. `contract.units` keeps the primitive writers (energy, CO2, durations, p-values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contract import units

MISSING = units.MISSING


class Kind(StrEnum):
    FRACTION = "fraction"          # accuracy, a rate: shown in %, changes in points
    PERPLEXITY = "perplexity"      # >= 1, lower is better: changes absolute (ppl) and relative (%)
    LOSS = "loss"                  # lower is better: changes absolute and relative (%)
    BYTES = "bytes"                # KiB, MiB, GiB
    SECONDS = "seconds"
    MILLISECONDS = "milliseconds"
    RATIO = "ratio"                # a factor: 4.41x
    ENERGY = "energy"              # kWh, written in the unit that keeps 3 digits; measured or modelled
    CO2 = "co2"                    # kg CO2-equivalent
    THROUGHPUT = "throughput"      # per second
    COUNT = "count"
    HYPERPARAMETER = "hyperparameter"  # a tuned setting that cannot be negative: a learning rate
    NUMBER = "number"              # a plain number of no declared unit


class Change(StrEnum):
    """How a change of a quantity is said."""

    POINTS = "points"              # percentage points of a fraction
    RELATIVE = "relative"          # % of the reference, with the absolute change in the unit
    RATIO = "ratio"                # reference / variant, for costs
    DIFFERENCE = "difference"      # signed, in the unit


@dataclass(frozen=True)
class KindInfo:
    unit: str                      # the unit written after a value ("" when none)
    change: Change
    non_negative: bool             # an interval of it never goes below 0
    lower_is_better: bool          # costs, perplexity, loss


KINDS: dict[Kind, KindInfo] = {
    Kind.FRACTION: KindInfo("%", Change.POINTS, True, False),
    Kind.PERPLEXITY: KindInfo("ppl", Change.RELATIVE, True, True),
    Kind.LOSS: KindInfo("", Change.RELATIVE, True, True),
    Kind.BYTES: KindInfo("B", Change.RATIO, True, True),
    Kind.SECONDS: KindInfo("s", Change.RATIO, True, True),
    Kind.MILLISECONDS: KindInfo("ms", Change.RATIO, True, True),
    Kind.RATIO: KindInfo("x", Change.DIFFERENCE, True, False),
    Kind.ENERGY: KindInfo("kWh", Change.RATIO, True, True),
    Kind.CO2: KindInfo("kg", Change.RATIO, True, True),
    Kind.THROUGHPUT: KindInfo("/s", Change.RATIO, True, False),
    Kind.COUNT: KindInfo("", Change.DIFFERENCE, True, False),
    Kind.HYPERPARAMETER: KindInfo("", Change.DIFFERENCE, True, False),
    Kind.NUMBER: KindInfo("", Change.DIFFERENCE, False, False),
}

#: keys of a tuned setting that cannot be negative (a learning rate, a distillation temperature)
HYPERPARAMETER_KEYS = ("lr", "learning_rate", "temperature", "weight_decay")

#: binary units of bytes, smallest first
BYTE_UNITS = (("B", 1), ("KiB", 1024), ("MiB", 1024 ** 2), ("GiB", 1024 ** 3), ("TiB", 1024 ** 4))


#: a result key's unit by its suffix (PROTOCOL §5), checked in this order (`_per_s` before `_s`)
SUFFIXES = (("_bytes", Kind.BYTES), ("_kwh", Kind.ENERGY), ("_kg", Kind.CO2), ("_per_s", Kind.THROUGHPUT),
            ("_ms", Kind.MILLISECONDS), ("_s", Kind.SECONDS))


def kind_of(key: str | None) -> Kind:
    """The kind of a result key (docs/PROTOCOL.md §5 names them by their unit): `*_accuracy`,
    `*_rate`, `*_fraction` fractions; `*perplexity*` perplexity (a `*_vs_*` or `*_ratio` key is a
    ratio); `*loss*` a loss; `*_bytes`, `*_s`, `*_ms`, `*_kwh`, `*_kg`, `*_per_s` by their unit."""
    k = (key or "").lower()
    if k.endswith("_ratio") or "_vs_" in k or k.startswith("speedup") or k in ("compression", "efficiency_score"):
        return Kind.RATIO
    if "accuracy" in k or k.endswith("_rate") or k.endswith("_fraction") or k.endswith("sparsity"):
        return Kind.FRACTION
    if "perplexity" in k:
        return Kind.PERPLEXITY
    if "loss" in k:
        return Kind.LOSS
    for suffix, kind in SUFFIXES:
        if k.endswith(suffix):
            return kind
    if k.endswith(("_count", "_params", "_steps")) or k.startswith(("n_", "params_", "flops_", "steps_")):
        return Kind.COUNT
    if any(k == h or k.endswith("_" + h) for h in HYPERPARAMETER_KEYS):
        return Kind.HYPERPARAMETER
    return Kind.NUMBER


def info(kind: Kind) -> KindInfo:
    return KINDS[kind]


def higher_is_better(key: str) -> bool:
    """A quality key: higher is better unless it is a loss, a perplexity or an error."""
    return not any(word in key for word in ("loss", "perplexity", "error"))


def _num(x: Any) -> bool:
    return units.is_number(x) and math.isfinite(float(x))


def _g(x: float, digits: int = 3) -> str:
    """`digits` significant digits, without an exponent for ordinary magnitudes."""
    if x == 0:
        return "0"
    out = f"{x:.{digits}g}"
    if "e" in out and 1e-4 <= abs(x) < 1e15:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
        out = f"{x:.{decimals}f}"
    return out


def _decimals(x: float, digits: int) -> int:
    """Decimals that give `x` `digits` significant digits: the bounds of an interval share the
    decimals of the larger one ('142.2..148.0', not '142.2..148')."""
    if x == 0 or not math.isfinite(x):
        return 0
    return min(9, max(0, digits - 1 - int(math.floor(math.log10(abs(x))))))


def _byte_unit(x: float) -> tuple[str, float]:
    unit, scale = BYTE_UNITS[0]
    for u, s in BYTE_UNITS:
        if abs(x) >= s:
            unit, scale = u, s
    return unit, scale


def _scale(kind: Kind, x: float) -> tuple[str, float]:
    """(unit, divisor) that writes `x` of `kind` readably; a column or an interval takes the one
    of its largest value so its numbers share a unit."""
    if kind is Kind.BYTES:
        return _byte_unit(x)
    if kind is Kind.ENERGY:
        unit, mult = units.unit_for(x, units.ENERGY_UNITS)
        return unit, 1 / mult
    if kind is Kind.CO2:
        unit, mult = units.unit_for(x, units.CO2_UNITS)
        return unit + " CO2", 1 / mult
    return KINDS[kind].unit, 1.0


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
        return units.energy(x, modelled)
    if kind is Kind.CO2:
        return units.co2(x)
    unit, divisor = _scale(kind, x)
    return _join(_bare(kind, x, divisor, digits), unit)


def clip(lo: float, hi: float, kind: Kind) -> tuple[float, float]:
    """An interval kept within what the quantity can be: never below 0 for a non-negative kind,
    never above 1 for a fraction."""
    if KINDS[kind].non_negative:
        lo, hi = max(0.0, lo), max(0.0, hi)
    if kind is Kind.FRACTION:
        lo, hi = min(1.0, lo), min(1.0, hi)
    return lo, hi


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
        unit, divisor = _scale(kind, max(abs(lo), abs(hi)))
        return f"{_g(lo / divisor, 3)}..{_g(hi / divisor, 3)} {unit}"
    unit, divisor = _scale(kind, max(abs(lo), abs(hi)))
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
        unit, divisor = _scale(kind, m)
        return f"{_g(m / divisor, 3)} ± {_g(s / divisor, 2)} {unit}"
    unit, divisor = _scale(kind, m)
    return _join(f"{_bare(kind, m, divisor, digits)} ± {_g(s / divisor, 2)}", unit)


# -- changes --------------------------------------------------------------------------------

def _signed(x: float, digits: int) -> str:
    out = _g(x, digits)
    return out if out.startswith("-") else "+" + out


def _pct_decimals(*percents: float) -> int:
    """Decimals of a relative change in %: 2, more for a change smaller than 0.01 %."""
    top = max((abs(p) for p in percents), default=0.0)
    return 2 if top == 0 or top >= 0.01 else _decimals(top, 2)


def relative(delta: Any, reference: Any) -> float | None:
    """A change as a fraction of the reference's mean (None without a reference)."""
    if not _num(delta) or not _num(reference) or float(reference) == 0:
        return None
    return float(delta) / abs(float(reference))


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
        return out + f" ({rel * 100:+.{_pct_decimals(rel * 100)}f} % of the reference)"
    unit, divisor = _scale(kind, abs(d))
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
        dec = _pct_decimals(rl * 100, rh * 100)
        return out + f" ({rl * 100:+.{dec}f}..{rh * 100:+.{dec}f} %)"
    unit, divisor = _scale(kind, max(abs(lo), abs(hi)))
    dec = _decimals(max(abs(lo), abs(hi)) / divisor, digits)
    return _join(f"{lo / divisor:+.{dec}f}..{hi / divisor:+.{dec}f}", unit)


def margin(fraction: Any, kind: Kind | str) -> str:
    """A non-inferiority margin ("quality kept") as the kind says a change: '1 point' of a fraction
    (accuracy), '3 % of the reference' of a perplexity or a loss, else the value in its unit."""
    kind = Kind(kind) if not isinstance(kind, Kind) else kind
    if not _num(fraction):
        return MISSING
    m = float(fraction)
    how = KINDS[kind].change
    if how is Change.POINTS:
        return f"{m * 100:g} point" + ("" if m * 100 == 1 else "s")
    if how is Change.RELATIVE:
        return f"{m * 100:g} % of the reference"
    return value(m, kind)


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


def describe(key: str | None) -> str:
    """How a change of `key` is said, for a table's legend: 'in %, changes in percentage points'."""
    kind = kind_of(key)
    how = KINDS[kind].change
    unit = KINDS[kind].unit
    if how is Change.POINTS:
        return "in %, changes in percentage points"
    if how is Change.RELATIVE:
        return (f"in {unit}, " if unit else "") + "changes in its unit and in % of the reference"
    if how is Change.RATIO:
        return "changes as the ratio reference / variant"
    return f"changes in {unit}" if unit else "changes as differences"


def unit_scale(kind: Kind | str, x: float) -> tuple[str, float]:
    """(unit, multiplier) that writes `x` of `kind` readably: a figure's axis or a table's column
    takes the one of its largest value, `x * multiplier` in `unit` (bytes: KiB, MiB, ...)."""
    kind = Kind(kind) if not isinstance(kind, Kind) else kind
    if kind is Kind.FRACTION:
        return "%", 100.0
    unit, divisor = _scale(kind, float(x))
    return unit, 1.0 / divisor
