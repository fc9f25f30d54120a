"""What a number is (issue 22): its kind, its unit, and how a change of it is said.

Every metric has a *kind* (`Kind`): a fraction such as an accuracy, a perplexity, a loss, bytes,
seconds or milliseconds, a cost ratio, energy (measured or modelled: said by the caller), CO2, a
throughput, a count. The kind says the value's unit and how a *change* of it is said:

- a fraction in percentage points ("+1.2 points");
- a perplexity or a loss as the absolute change in its own unit and the change relative to the
  reference, in % of the reference ("+0.0904 ppl (+0.06 % of the reference)");
- a cost (bytes, time, energy) as a ratio reference / variant ("4.41x");
- anything else as a signed difference in its unit.

And the unit a magnitude is written in: energy in kWh down to µWh, bytes in binary units (KiB,
MiB, GiB), a column or an axis in the unit of its largest value (`unit_for`, `unit_scale`).

The validator stores the kind with its numbers (`quality_delta.kind`, the headline's
`quality_kind`). Writing a value, a change or an interval is `contract.units`' job, the one
formatter every output uses; this module only says what each quantity is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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


#: a result key's unit by its suffix (PROTOCOL §5), checked in this order (`_per_s` before `_s`)
SUFFIXES = (("_bytes", Kind.BYTES), ("_kwh", Kind.ENERGY), ("_kg", Kind.CO2), ("_per_s", Kind.THROUGHPUT),
            ("_ms", Kind.MILLISECONDS), ("_s", Kind.SECONDS))


def kind_of(key: str | None) -> Kind:
    """The kind of a result key (docs/PROTOCOL.md §5 names them by their unit): `*_accuracy`,
    `*_rate`, `*_fraction`, `*_match` (a share of tokens that agree) fractions; `*perplexity*`
    perplexity (a `*_vs_*` or `*_ratio` key is a
    ratio); `*loss*` a loss; `*_bytes`, `*_s`, `*_ms`, `*_kwh`, `*_kg`, `*_per_s` by their unit."""
    k = (key or "").lower()
    if k.endswith("_ratio") or "_vs_" in k or k.startswith("speedup") or k in ("compression", "efficiency_score"):
        return Kind.RATIO
    if "accuracy" in k or k.endswith("_rate") or k.endswith("_fraction") or k.endswith("sparsity") \
            or k.endswith("_match"):
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


def clip(lo: float, hi: float, kind: Kind) -> tuple[float, float]:
    """An interval kept within what the quantity can be: never below 0 for a non-negative kind,
    never above 1 for a fraction."""
    if KINDS[kind].non_negative:
        lo, hi = max(0.0, lo), max(0.0, hi)
    if kind is Kind.FRACTION:
        lo, hi = min(1.0, lo), min(1.0, hi)
    return lo, hi


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def relative(delta: Any, reference: Any) -> float | None:
    """A change as a fraction of the reference's mean (None without a reference)."""
    if not _finite(delta) or not _finite(reference) or float(reference) == 0:
        return None
    return float(delta) / abs(float(reference))


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


# -- the unit a magnitude is written in ---------------------------------------------------------

ENERGY_UNITS = (("kWh", 1.0), ("Wh", 1e3), ("mWh", 1e6), ("µWh", 1e9))
CO2_UNITS = (("kg", 1.0), ("g", 1e3), ("mg", 1e6), ("µg", 1e9))
#: binary units of bytes, smallest first
BYTE_UNITS = (("B", 1), ("KiB", 1024), ("MiB", 1024 ** 2), ("GiB", 1024 ** 3), ("TiB", 1024 ** 4))


def unit_for(value: float, units: tuple[tuple[str, float], ...] = ENERGY_UNITS) -> tuple[str, float]:
    """(unit, scale) of the first unit (largest first) in which `value` reads at least 1 after
    rounding to 3 significant digits (999.98 Wh is 1 kWh, not 1e+03 Wh); the last unit otherwise.
    A table column takes the unit of its largest value, so all its cells share it."""
    for unit, scale in units:
        if abs(float(f"{value * scale:.3g}")) >= 1:
            return unit, scale
    return units[-1]


def byte_unit(x: float) -> tuple[str, float]:
    """(unit, divisor) of the largest binary unit `x` bytes reach."""
    unit, scale = BYTE_UNITS[0]
    for u, s in BYTE_UNITS:
        if abs(x) >= s:
            unit, scale = u, s
    return unit, scale


def unit_divisor(kind: Kind, x: float) -> tuple[str, float]:
    """(unit, divisor) that writes `x` of `kind` readably; a column or an interval takes the one
    of its largest value so its numbers share a unit."""
    if kind is Kind.BYTES:
        return byte_unit(x)
    if kind is Kind.ENERGY:
        unit, mult = unit_for(x, ENERGY_UNITS)
        return unit, 1 / mult
    if kind is Kind.CO2:
        unit, mult = unit_for(x, CO2_UNITS)
        return unit + " CO2", 1 / mult
    return KINDS[kind].unit, 1.0


def unit_scale(kind: Kind | str, x: float) -> tuple[str, float]:
    """(unit, multiplier) that writes `x` of `kind` readably: a figure's axis or a table's column
    takes the one of its largest value, `x * multiplier` in `unit` (bytes: KiB, MiB, ...)."""
    kind = Kind(kind) if not isinstance(kind, Kind) else kind
    if kind is Kind.FRACTION:
        return "%", 100.0
    unit, divisor = unit_divisor(kind, float(x))
    return unit, 1.0 / divisor
