"""The statistics' settings, interval methods and small helpers, and the summary of one sample
over seeds (mean, sample std, the t-interval of the mean clipped to its bounds)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from science.stats.tdist import t_critical

POWER = 0.8               # the power at which the minimum detectable effect is given
RNG_SEED = 12345          # the bootstraps' fixed seed: the same data give the same interval
RESAMPLES = 4000          # Monte-Carlo bootstrap draws when the exact distribution is too large
EXACT_LIMIT = 3125        # n**n resamples: every resample of up to 5 seeds is enumerated

Bounds = tuple[float, float] | None
CI = tuple[float, float]
NON_NEGATIVE: Bounds = (0.0, math.inf)
EXACT_NOTE = ("no variance across seeds: the interval is the value itself; p from the exact permutation test "
              "(a sign flip per seed), never 0")


class CIMethod(StrEnum):
    """How an interval was computed: the validator's results name it (`ci_method`)."""

    PAIRED_T = "paired_t"              # paired t over seeds, on the differences
    WELCH = "welch_t"                  # Welch's unpaired t
    PAIRED_T_LOG = "paired_t_log"      # paired t over seeds on the log ratios (E: on log E per seed)
    DELTA_LOG = "delta_log"            # unpaired: delta method on the log of a ratio of means, Welch df
    EXACT = "exact"                    # no variance across seeds: the value itself; p by permutation
    #: the same over the means of a replication factor above the seed (the language model's
    #: independently pre-trained bases): df = bases - 1, the variation between bases inside
    PAIRED_T_BASES = "paired_t_bases"
    PAIRED_T_LOG_BASES = "paired_t_log_bases"

    @property
    def label(self) -> str:
        return {"paired_t": "paired t over seeds", "welch_t": "Welch t (unpaired)",
                "paired_t_log": "paired t on log ratios over seeds",
                "paired_t_bases": "paired t over the base models' means",
                "paired_t_log_bases": "paired t on log ratios over the base models' means",
                "delta_log": "delta method on log ratio of means (unpaired, Welch df)",
                "exact": "exact: no variance across seeds"}[self.value]




def significant(value: float | None, digits: int = 6) -> float | None:
    """`value` to `digits` significant digits (energies are around 1e-7 kWh); None stays None."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


_round = significant


def number(value: object) -> float | None:
    """A finite number, or None (booleans, text, NaN are not measurements)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def clean(values: Iterable[object]) -> list[float]:
    """The finite numbers among `values` (booleans, None, NaN and text are left out)."""
    return [x for x in (number(v) for v in values) if x is not None]


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def sample_std(xs: Sequence[float]) -> float:
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def clip(ci: CI | None, bounds: Bounds) -> CI | None:
    """An interval kept inside the possible range (an accuracy within [0, 1])."""
    if ci is None or bounds is None:
        return ci
    lo, hi = bounds
    return (min(max(ci[0], lo), hi), max(min(ci[1], hi), lo))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0 or numerator < 0:
        return None
    return numerator / denominator


def pair_ci(ci: CI | None, digits: int = 6) -> list[float | None] | None:
    """An interval as the JSON pair the records hold."""
    return None if ci is None else [_round(ci[0], digits), _round(ci[1], digits)]


# -- one sample ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    std: float | None           # sample standard deviation (ddof=1); None below 2 values
    ci95: CI | None             # Student t interval of the mean, clipped to the bounds

    def to_json(self) -> dict[str, object]:
        return {"mean": _round(self.mean), "std": _round(self.std), "ci95": pair_ci(self.ci95)}


def summarize(values: Iterable[object], bounds: Bounds = None) -> Summary:
    """Mean, standard deviation and the 95 % t-interval of the mean (clipped to `bounds`)."""
    xs = clean(values)
    n = len(xs)
    if n == 0:
        return Summary(0, None, None, None)
    m = mean(xs)
    if n == 1:
        return Summary(1, m, None, None)
    std = sample_std(xs)
    half = t_critical(n - 1) * std / math.sqrt(n)
    return Summary(n, m, std, clip((m - half, m + half), bounds))


def mean_ci(values: Sequence[float], bounds: Bounds = None) -> tuple[float, CI | None]:
    """The mean and its 95 % CI (None for a single value): the control room's short form."""
    s = summarize(values, bounds)
    if s.mean is None:
        raise ValueError("no values")
    return s.mean, s.ci95
