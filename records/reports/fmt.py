"""How numbers are written in reports: one format per kind of value, the same everywhere, so
that a number in a report can be traced back to the breakdown it came from."""

from __future__ import annotations

from typing import Any

from contract import quantities, units

MISSING = units.MISSING


_is_num = units.is_number


def pct(fraction: Any, digits: int = 2) -> str:
    """A fraction as a percentage: 0.8123 -> '81.23 %'."""
    return quantities.value(fraction, quantities.Kind.FRACTION, digits + 2)


def pct_ci(ci: Any, digits: int = 2) -> str:
    """'80.10..82.30 %' (kept within 0..100 %)."""
    return quantities.interval(ci, quantities.Kind.FRACTION, digits + 2)


def ratio(x: Any) -> str:
    """E, speedup, compression: '2.40x' (`contract.quantities.ratio`)."""
    return quantities.ratio(x)


times = quantities.ratio
times_ci = quantities.ratio_interval
pvalue = units.pvalue


def unit_of(key: str, value: float) -> tuple[str, float]:
    """The unit a result key carries (PROTOCOL §5) and the multiplier that keeps 3 digits readable."""
    return quantities.unit_scale(quantities.kind_of(key), value)


def value(key: str, x: Any) -> str:
    """A result value with the unit its key names (`contract.quantities`): accuracies as
    percentages, energies in the unit that keeps three significant digits, sizes in KiB/MiB,
    perplexity in ppl, times in s or ms."""
    return quantities.of(key, x)


def mean_std(key: str, summary: Any) -> str:
    """'mean ± std' of a summary (`{"mean", "std", "ci95"}`) in the key's unit."""
    if not isinstance(summary, dict):
        return MISSING
    return quantities.mean_std(summary.get("mean"), summary.get("std"), quantities.kind_of(key))


def ci(key: str, summary: Any) -> str:
    """The summary's 95 % CI in the key's unit, never below 0 for a quantity that cannot be."""
    if not isinstance(summary, dict):
        return MISSING
    return quantities.interval(summary.get("ci95"), quantities.kind_of(key))


def change(key: str, delta: Any, reference: Any = None) -> str:
    """A change of `key` as its kind says it (points, ppl and % of the reference, ...)."""
    return quantities.change(delta, quantities.kind_of(key), reference)


def change_ci(key: str, ci95: Any, reference: Any = None) -> str:
    return quantities.change_interval(ci95, quantities.kind_of(key), reference)


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
