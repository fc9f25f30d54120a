"""Statistics over seeds: mean, standard deviation, 95 % confidence intervals (Student t),
Welch's t-test and Hedges' g against the baseline.

Imported only by the validator, which runs as its own process: `scipy.stats` costs about a
second and a half and ~100 MB, which the engine must not pay. It is imported only when two or
more values need a t quantile or a test, so rating a one-seed experiment stays quick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    std: float | None           # sample standard deviation (ddof=1); None below 2 values
    ci95: tuple[float, float] | None

    def to_json(self) -> dict[str, object]:
        return {"mean": _round(self.mean), "std": _round(self.std),
                "ci95": None if self.ci95 is None else [_round(self.ci95[0]), _round(self.ci95[1])]}

    @property
    def half_width(self) -> float | None:
        return None if self.ci95 is None else (self.ci95[1] - self.ci95[0]) / 2


@dataclass(frozen=True)
class Comparison:
    """A variant against the baseline: difference of means (variant - baseline)."""

    delta: float | None
    delta_ci95: tuple[float, float] | None
    p_value: float | None        # Welch's two-sided t-test; None when it cannot be computed
    effect_size: float | None    # Hedges' g (bias-corrected Cohen's d, pooled SD)
    note: str = ""


def _sps() -> Any:
    from scipy import stats

    return stats


def significant(value: float | None, digits: int = 6) -> float | None:
    """`value` to `digits` significant digits (energies are around 1e-7 kWh); None stays None."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


_round = significant


def clean(values: Sequence[object]) -> list[float]:
    """The finite numbers among `values` (booleans, None, NaN and text are left out)."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if math.isfinite(v):
            out.append(float(v))
    return out


def summarize(values: Sequence[float]) -> Summary:
    xs = clean(values)
    n = len(xs)
    if n == 0:
        return Summary(0, None, None, None)
    mean = sum(xs) / n
    if n == 1:
        return Summary(1, mean, None, None)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(_sps().t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, (mean - half, mean + half))


def compare(variant: Sequence[float], baseline: Sequence[float]) -> Comparison:
    """Welch's t-test, the Welch-Satterthwaite CI of the difference, and Hedges' g."""
    a, b = clean(variant), clean(baseline)
    if not a or not b:
        return Comparison(None, None, None, None, "no values to compare")
    sa, sb = summarize(a), summarize(b)
    assert sa.mean is not None and sb.mean is not None
    delta = sa.mean - sb.mean
    if len(a) < 2 or len(b) < 2:
        return Comparison(delta, None, None, None, "needs at least 2 seeds on each side")
    va, vb = (sa.std or 0.0) ** 2, (sb.std or 0.0) ** 2
    se2 = va / len(a) + vb / len(b)
    if se2 == 0.0:
        # identical values on every seed on both sides: the difference is exact
        p = 1.0 if delta == 0.0 else 0.0
        return Comparison(delta, (delta, delta), p, None, "no variance across seeds: the difference is exact")
    dof = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    half = float(_sps().t.ppf(0.5 + CONFIDENCE / 2, dof)) * math.sqrt(se2)
    p = float(_sps().ttest_ind(a, b, equal_var=False).pvalue)
    pooled = math.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb) / (len(a) + len(b) - 2))
    g = None
    if pooled > 0:
        d = delta / pooled
        correction = 1 - 3 / (4 * (len(a) + len(b)) - 9)
        g = d * correction
    return Comparison(delta, (delta - half, delta + half), p if math.isfinite(p) else None, g)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0 or numerator < 0:
        return None
    return numerator / denominator


def proportion_ci(successes: int, trials: int) -> tuple[float, float] | None:
    """Wilson's 95 % interval of a proportion (e.g. a success rate): it stays within [0, 1] and
    is sensible for a handful of trials and for 0 or all successes; None without trials."""
    if trials <= 0 or not 0 <= successes <= trials:
        return None
    z = 1.959963984540054
    p = successes / trials
    denominator = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, center - half), min(1.0, center + half)
