"""Differences variant - reference: paired by seed (paired t) or unpaired (Welch), the exact
permutation p of a quantity with no variance, the minimum detectable effect and the seeds to
detect an effect."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from science.stats.basics import CI, EXACT_NOTE, POWER, Bounds, CIMethod, clean, clip, mean, sample_std
from science.stats.bootstrap import bootstrap_ci
from science.stats.tdist import CONFIDENCE, t_critical, t_ppf, two_sided_p

Seed = TypeVar("Seed")  # what values are paired on: a seed, or a base model


def permutation_p(delta: float, n: int, m: int | None = None) -> float:
    """The two-sided p of an exact permutation test when every value agrees (no variance): n paired
    seeds with the same nonzero difference, 2 / 2^n (every sign flip but the observed two is less
    extreme); two unpaired groups of n and m, 2 / C(n + m, n); 1 without a difference."""
    if delta == 0.0:
        return 1.0
    return min(1.0, 2.0 / (2 ** n if m is None else math.comb(n + m, n)))


def _no_variance(spread: float, values: Sequence[float]) -> bool:
    """A spread that is zero up to floating-point rounding of the values' magnitude (0.3 - 0.2 and
    0.1 - 0.0 differ by 3e-17): the quantity is the same on every seed, exact."""
    return spread <= 1e-12 * max((abs(x) for x in values), default=0.0)

@dataclass(frozen=True)
class Difference:
    """variant - reference: paired by seed (paired t) or, without shared seeds, Welch's test."""

    n: int                       # pairs (paired) or the smaller group (unpaired)
    delta: float | None          # mean difference (difference of means when unpaired)
    ci95: CI | None              # t interval, clipped to the bounds
    p_value: float | None        # two-sided
    effect_size: float | None    # paired: d_z (mean / sd of differences); unpaired: Hedges' g
    mde: float | None            # smallest |difference| the design detects at ALPHA with POWER
    paired: bool
    boot_ci95: CI | None = None  # percentile bootstrap over seeds (paired only)
    note: str = ""
    exact: bool = False          # no variance across seeds: the interval is the point, no p-value
    over_bases: bool = False     # the pairs are the base models' means, not seeds (`group_means`)

    @property
    def method(self) -> str:
        if self.paired and self.over_bases:
            return "paired t over the base models' means"
        return "paired t over seeds" if self.paired else "Welch (unpaired)"

    @property
    def ci_method(self) -> CIMethod:
        if self.exact:
            return CIMethod.EXACT
        if self.paired:
            return CIMethod.PAIRED_T_BASES if self.over_bases else CIMethod.PAIRED_T
        return CIMethod.WELCH

    @property
    def delta_ci95(self) -> CI | None:  # the name the deliverables use
        return self.ci95


Comparison = Difference


def mde(se: float, df: float, alpha: float = 1 - CONFIDENCE, power: float = POWER) -> float:
    """Minimum detectable effect of a two-sided t-test: (t_{1-a/2} + t_{power}) x standard error."""
    return (t_ppf(1 - alpha / 2, df) + t_ppf(power, df)) * se


def seeds_to_detect(size: float, mde_now: float, n: int, limit: int = 100,
                    alpha: float = 1 - CONFIDENCE, power: float = POWER) -> int | None:
    """The fewest pairs at which an effect of `size` would be detectable, given the minimum
    detectable effect `mde_now` of n pairs (the same spread, the t quantiles of each n); None
    beyond `limit`."""
    if n < 2 or size <= 0 or mde_now <= 0:
        return None
    sd = mde_now * math.sqrt(n) / (t_ppf(1 - alpha / 2, n - 1) + t_ppf(power, n - 1))
    for m in range(2, limit + 1):
        if (t_ppf(1 - alpha / 2, m - 1) + t_ppf(power, m - 1)) * sd / math.sqrt(m) <= size:
            return m
    return None


def paired(pairs: Sequence[tuple[float, float]], bounds: Bounds = None, bootstrap: bool = True) -> Difference:
    """Paired differences (variant, reference) per seed: paired t-test, its CI, d_z, the MDE and
    a percentile bootstrap of the mean difference over seeds."""
    ds = [v - r for v, r in pairs]
    n = len(ds)
    if n == 0:
        return Difference(0, None, None, None, None, None, True, note="no shared seeds")
    d = mean(ds)
    if n == 1:
        return Difference(1, d, None, None, None, None, True, note="one shared seed: no interval")
    sd = sample_std(ds)
    boot = bootstrap_ci([[x] for x in ds], lambda m: m[0], bounds) if bootstrap else None
    if _no_variance(sd, [x for pair in pairs for x in pair]):
        return Difference(n, d, clip((d, d), bounds), permutation_p(d, n), None, None, True, boot, EXACT_NOTE,
                          exact=True)
    se = sd / math.sqrt(n)
    half = t_critical(n - 1) * se
    p = two_sided_p(d / se, n - 1)
    return Difference(n, d, clip((d - half, d + half), bounds), p, d / sd, mde(se, n - 1), True, boot)


def welch(variant: Sequence[float], reference: Sequence[float], bounds: Bounds = None) -> Difference:
    """Welch's unpaired t-test, the Welch-Satterthwaite CI of the difference, Hedges' g."""
    a, b = clean(variant), clean(reference)
    if not a or not b:
        return Difference(0, None, None, None, None, None, False, note="no values to compare")
    delta = mean(a) - mean(b)
    if len(a) < 2 or len(b) < 2:
        return Difference(min(len(a), len(b)), delta, None, None, None, None, False,
                          note="needs at least 2 seeds on each side")
    va, vb = sample_std(a) ** 2, sample_std(b) ** 2
    se2 = va / len(a) + vb / len(b)
    if _no_variance(math.sqrt(se2), a + b):
        return Difference(min(len(a), len(b)), delta, clip((delta, delta), bounds),
                          permutation_p(delta, len(a), len(b)), None, None, False, note=EXACT_NOTE, exact=True)
    dof = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    se = math.sqrt(se2)
    half = t_critical(dof) * se
    p = two_sided_p(delta / se, dof)
    pooled = math.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb) / (len(a) + len(b) - 2))
    g = None
    if pooled > 0:
        g = delta / pooled * (1 - 3 / (4 * (len(a) + len(b)) - 9))
    return Difference(min(len(a), len(b)), delta, clip((delta - half, delta + half), bounds), p, g,
                      mde(se, dof), False)


def compare(variant: Sequence[float], reference: Sequence[float], bounds: Bounds = None) -> Difference:
    """Two samples with no seed attached: Welch's unpaired test (kept for the deliverables)."""
    return welch(variant, reference, bounds)


def by_seed(variant: Mapping[Seed, float], reference: Mapping[Seed, float], bounds: Bounds = None) -> Difference:
    """Paired by seed when at least two seeds are shared, else Welch on every value."""
    shared = [s for s in variant if s in reference]
    if len(shared) >= 2:
        return paired([(variant[s], reference[s]) for s in shared], bounds)
    return welch(list(variant.values()), list(reference.values()), bounds)
