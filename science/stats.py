"""The lab's one statistics module: summaries over seeds, paired differences, ratios (speedup,
compression, the efficiency score E) with t-intervals on their logs, Holm's correction,
non-inferiority and the minimum detectable effect.

Every interval the lab shows (validator, reports, control room) comes from here. It is pure
Python, standard library only: Student's t distribution is computed from the regularised
incomplete beta function (checked against scipy in tests/science/test_statistics.py),
so the control room and the engine can import it without paying scipy's second and a half.
numpy is imported lazily, only for the bootstrap over test examples (thousands of 0/1 values).

Conventions:
- a *difference* is variant - reference; a *ratio* is what the caller says (the analysis puts
  the reference over the variant, so > 1 means the variant is cheaper);
- seeds pair variants (each seed fixes the data split and the initialisation of every variant),
  so comparisons are paired by seed whenever two or more seeds are shared; otherwise they fall
  back to Welch's unpaired test and say so (`paired` False);
- bootstraps are deterministic: the exact bootstrap distribution (every resample) when it has at
  most `EXACT_LIMIT` resamples, else `RESAMPLES` draws from a generator seeded with `RNG_SEED`;
- intervals of bounded quantities are clipped to their range (`bounds`);
- a ratio of positive costs is judged on its logarithm (issue 22): paired by seed, a t-interval on
  the per-seed log ratios (the estimate is their geometric mean); unpaired, the delta method on the
  log of the ratio of means with Welch's degrees of freedom. Percentile bootstraps over 3-5 seeds
  covered a known log-normal ratio 68-84 % of the time; these cover it 95 %
  (tests/science/test_interval_coverage.py). Every interval names its method (`CIMethod`);
- a quantity with no variance across seeds is *exact* (`exact`, `CIMethod.EXACT`): its interval
  is the value itself and it has no minimum detectable effect. Its p-value is never 0 (a t-test of
  zero variance would say so and make a constant look like a discovery): it comes from the exact
  permutation test, 2 / 2^n for n paired seeds that all agree (a sign flip per seed), 2 / C(n1+n2,
  n1) unpaired; 1 when there is no difference. Whether a constant is *fixed by construction*
  (a size, a parameter count: no evidence at all) is the analysis's call (science/analysis.py).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from operator import itemgetter
from typing import Any

CONFIDENCE = 0.95
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


# -- Student's t distribution, without scipy --------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom (df may be fractional: Welch)."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_cdf(t: float, df: float) -> float:
    return 1.0 - t_sf(t, df)


@lru_cache(maxsize=512)
def t_ppf(q: float, df: float) -> float:
    """The q-quantile of Student's t (bisection on the distribution function, to ~1e-12)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile {q} outside (0, 1)")
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    if q == 0.5:
        return 0.0
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


def t_critical(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided critical value: 2.776 for 4 degrees of freedom at 95 %."""
    return t_ppf(0.5 + confidence / 2.0, df)


def two_sided_p(t: float, df: float) -> float:
    return min(1.0, 2.0 * t_sf(abs(t), df))


# -- small helpers ---------------------------------------------------------------------------

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


# -- differences -----------------------------------------------------------------------------

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


def by_seed(variant: Mapping[object, float], reference: Mapping[object, float], bounds: Bounds = None) -> Difference:
    """Paired by seed when at least two seeds are shared, else Welch on every value."""
    shared = [s for s in variant if s in reference]
    if len(shared) >= 2:
        return paired([(variant[s], reference[s]) for s in shared], bounds)
    return welch(list(variant.values()), list(reference.values()), bounds)


# -- bootstrap -------------------------------------------------------------------------------

def _percentile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def resamples(n: int, seed: int = RNG_SEED) -> Iterable[Sequence[int]]:
    """Index resamples of n rows: all n**n of them when few enough, else RESAMPLES draws."""
    if n ** n <= EXACT_LIMIT:
        return itertools.product(range(n), repeat=n)
    return _draws(n, seed)


@lru_cache(maxsize=64)
def _draws(n: int, seed: int) -> tuple[tuple[int, ...], ...]:
    """RESAMPLES index draws of n rows from a generator seeded with `seed` (the same for every
    call: drawn once, kept)."""
    rng = random.Random(seed)
    population = range(n)
    return tuple(tuple(rng.choices(population, k=n)) for _ in range(RESAMPLES))


def _resampled_means(cols: Sequence[Sequence[float]], idx: Sequence[int]) -> list[float]:
    """Column means of the rows `idx` (n >= 2 indices, so itemgetter returns a tuple)."""
    get = itemgetter(*idx)
    n = len(idx)
    return [sum(get(c)) / n for c in cols]


def _percentile_ci(values: list[float], bounds: Bounds, confidence: float) -> CI | None:
    """The percentile interval of bootstrap replicates (None without any), clipped to `bounds`."""
    if not values:
        return None
    values.sort()
    tail = (1 - confidence) / 2
    return clip((_percentile(values, tail), _percentile(values, 1 - tail)), bounds)


def bootstrap_ci(rows: Sequence[Sequence[float]], statistic: Callable[[list[float]], float | None],
                 bounds: Bounds = None, confidence: float = CONFIDENCE) -> CI | None:
    """Percentile bootstrap CI of `statistic(column means)` over rows resampled together (one
    row per seed: the resample keeps each seed's values paired). None below 2 rows."""
    n = len(rows)
    if n < 2:
        return None
    cols = list(zip(*rows))
    values = []
    for idx in resamples(n):
        out = statistic(_resampled_means(cols, idx))
        if out is not None and math.isfinite(out):
            values.append(out)
    return _percentile_ci(values, bounds, confidence)


def example_bootstrap(per_seed: Sequence[tuple[Sequence[float], Sequence[float]]],
                      bounds: Bounds = (-1.0, 1.0)) -> tuple[float, CI] | None:
    """The accuracy difference (variant - reference) and its percentile CI from resampling the
    test examples within each seed (both variants scored the same examples of that seed), mean
    over seeds. `per_seed`: (variant correct 0/1, reference correct 0/1) of equal lengths."""
    import numpy as np

    diffs = [np.asarray(v, dtype=float) - np.asarray(r, dtype=float) for v, r in per_seed
             if len(v) == len(r) and len(v) > 0]
    if not diffs or len(diffs) != len(per_seed):
        return None
    rng = np.random.default_rng(RNG_SEED)
    total = np.zeros(RESAMPLES)
    for d in diffs:
        idx = rng.integers(0, len(d), size=(RESAMPLES, len(d)))
        total += d[idx].mean(axis=1)
    boot = np.sort(total / len(diffs))
    tail = (1 - CONFIDENCE) / 2
    ci = clip((float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))), bounds)
    assert ci is not None
    return float(np.mean([d.mean() for d in diffs])), ci


# -- ratios ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ratio:
    """A ratio of positive costs (numerator / denominator; E is one too) with its 95 % interval,
    computed on the log scale (`method`); p tests ratio = 1. Paired: the estimate is the geometric
    mean of the per-seed ratios; unpaired: the ratio of the means."""

    estimate: float | None
    ci95: CI | None
    p_value: float | None        # None when exact or untestable
    mde: float | None            # the smallest ratio (> 1) the design detects
    n: int
    paired: bool
    per_seed: tuple[float, ...] = ()   # numerator / denominator of each paired seed
    note: str = ""
    method: CIMethod | None = None     # None: no interval
    exact: bool = False                # no variance across seeds (a size fixed by construction)


def _logs(xs: Sequence[float]) -> list[float] | None:
    return [math.log(x) for x in xs] if xs and all(x > 0 for x in xs) else None


def _log_t(logs: Sequence[float], per_seed: tuple[float, ...]) -> Ratio:
    """A t-interval of the mean of per-seed log ratios, back-transformed."""
    n = len(logs)
    m = mean(logs)
    if n < 2:
        return Ratio(math.exp(m), None, None, None, n, True, per_seed, "one paired seed: no interval")
    sd = sample_std(logs)
    if sd <= 1e-12 * max(1.0, abs(m)):  # the same ratio on every seed, to rounding
        return Ratio(math.exp(m), (math.exp(m), math.exp(m)), permutation_p(m if abs(m) > 1e-12 else 0.0, n), None,
                     n, True, per_seed,
                     EXACT_NOTE, CIMethod.EXACT, True)
    se = sd / math.sqrt(n)
    half = t_critical(n - 1) * se
    return Ratio(math.exp(m), (math.exp(m - half), math.exp(m + half)), two_sided_p(m / se, n - 1),
                 math.exp(mde(se, n - 1)), n, True, per_seed, method=CIMethod.PAIRED_T_LOG)


Side = tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]]  # a group's top and bottom columns


def _delta_log(groups: Sequence[Side]) -> Ratio:
    """exp(sum of log mean(top) - sum of log mean(bottom)), each group of rows on its own
    (unpaired): the delta method's standard error (each row's linearised value, sum of top /
    mean - sum of bottom / mean, over its group's rows) and Welch-Satterthwaite's degrees of
    freedom across the groups."""
    log_est, parts = 0.0, []
    for tops, bottoms in groups:
        cols = [(c, 1.0) for c in tops] + [(c, -1.0) for c in bottoms]
        rows = len(cols[0][0])
        lin = [0.0] * rows
        for col, sign in cols:
            m = mean(col)
            if m <= 0:
                return Ratio(None, None, None, None, 0, False, note="a mean is not positive")
            log_est += sign * math.log(m)
            lin = [x + sign * v / m for x, v in zip(lin, col)]
        parts.append((sample_std(lin) ** 2 / rows if rows >= 2 else None, rows))
    est, n = math.exp(log_est), min(k for _, k in parts)
    if any(v is None for v, _ in parts):
        return Ratio(est, None, None, None, n, False, note="needs at least 2 seeds on each side")
    var = sum(v for v, _ in parts if v is not None)
    if var <= 1e-24:
        sizes = [k for _, k in parts] + [0]
        p = permutation_p(log_est if abs(log_est) > 1e-12 else 0.0, sizes[0], sizes[1] or None)
        return Ratio(est, (est, est), p, None, n, False, note=EXACT_NOTE, method=CIMethod.EXACT, exact=True)
    dof = var ** 2 / sum(v ** 2 / (k - 1) for v, k in parts if v is not None)
    se = math.sqrt(var)
    half = t_critical(dof) * se
    return Ratio(est, (math.exp(log_est - half), math.exp(log_est + half)), two_sided_p(log_est / se, dof),
                 math.exp(mde(se, dof)), n, False, method=CIMethod.DELTA_LOG)


def ratio_interval(numerator: Sequence[float], denominator: Sequence[float], paired_rows: bool) -> Ratio:
    """numerator / denominator with its 95 % interval. Paired (the lists aligned by seed): a
    t-interval on the per-seed log ratios; else the delta method on log(mean / mean)."""
    num, den = clean(numerator), clean(denominator)
    if not num or not den:
        return Ratio(None, None, None, None, 0, paired_rows, note="no values")
    if paired_rows and len(num) == len(den):
        ln, ld = _logs(num), _logs(den)
        if ln is None or ld is None:
            est = ratio(mean(num), mean(den))
            return Ratio(est, None, None, None, len(num), True, note="a value is not positive: no log interval")
        return _log_t([a - b for a, b in zip(ln, ld)], tuple(a / b for a, b in zip(num, den)))
    return _delta_log([([num], []), ([], [den])])


def efficiency_interval(variant: Sequence[tuple[float, float]], reference: Sequence[tuple[float, float]],
                        paired_rows: bool, higher_is_better: bool = True) -> Ratio:
    """The efficiency score E = (quality / reference quality) x (reference energy / energy) (the
    quality ratio inverted when lower quality is better, perplexity) and its 95 % interval: paired
    (rows aligned by seed), a t-interval on log E per seed (the sum of the two log ratios, whose
    variance counts their covariance: the delta method, exact on the log scale); unpaired, the
    delta method on log E of the means. Rows are (quality, energy)."""
    def ok(row: tuple[float, float]) -> bool:
        return all(number(x) is not None for x in row)

    if paired_rows and len(variant) == len(reference):
        rows = [(a, b) for a, b in zip(variant, reference) if ok(a) and ok(b)]
        if not rows:
            return Ratio(None, None, None, None, 0, True, note="no quality and energy to compare")
        top = [(vq if higher_is_better else rq) * re for (vq, _), (rq, re) in rows]
        bottom = [(rq if higher_is_better else vq) * ve for (vq, ve), (rq, _) in rows]
        return ratio_interval(top, bottom, True)
    v, r = [a for a in variant if ok(a)], [b for b in reference if ok(b)]
    if not v or not r:
        return Ratio(None, None, None, None, 0, False, note="no quality and energy to compare")
    vq, ve = [q for q, _ in v], [e for _, e in v]
    rq, re_ = [q for q, _ in r], [e for _, e in r]
    if higher_is_better:  # E = mean(vq) mean(re) / (mean(rq) mean(ve))
        return _delta_log([([vq], [ve]), ([re_], [rq])])
    return _delta_log([([], [vq, ve]), ([rq, re_], [])])  # E = mean(rq) mean(re) / (mean(vq) mean(ve))


# -- a replication factor above the seed (issue 22 item 6) ------------------------------------

def group_means(values: Mapping[Any, float], group_of: Mapping[Any, Any], geometric: bool = False) -> dict[Any, float]:
    """The mean of each group's values (seeds grouped by the base model they fine-tuned); the
    geometric mean for a ratio's terms (the mean of their logs: log ratios average the same way),
    the arithmetic mean when a value is not positive. Values of no group are left out."""
    groups: dict[Any, list[float]] = {}
    for key, x in values.items():
        if key in group_of:
            groups.setdefault(group_of[key], []).append(float(x))
    return {g: average(xs, geometric) for g, xs in groups.items()}


def average(xs: Sequence[float], geometric: bool = False) -> float:
    """The mean of `xs`; geometric (the mean of the logs) when asked and every value is positive."""
    return math.exp(mean([math.log(x) for x in xs])) if geometric and all(x > 0 for x in xs) else mean(xs)


@dataclass(frozen=True)
class Components:
    """One-way random-effects variance components of values grouped by a replication factor (the
    language model's independently pre-trained bases): the ANOVA estimates of the variance between
    groups (truncated at 0) and within them (between seeds of one group); `share`, the between
    share of their sum. With one value per group, `within` is None and `between` is the variance
    of the values (the seeds' own noise included)."""

    groups: int
    n: int
    means: dict[Any, float]
    sizes: dict[Any, int]
    between: float | None
    within: float | None

    @property
    def share(self) -> float | None:
        if self.between is None or self.within is None or self.between + self.within <= 0:
            return None
        return self.between / (self.between + self.within)

    def to_json(self, digits: int = 6) -> dict[str, Any]:
        return {"bases": self.groups, "n": self.n,
                "per_base": {str(g): significant(m, digits) for g, m in sorted(self.means.items(), key=lambda x: str(x[0]))},
                "seeds_per_base": {str(g): k for g, k in sorted(self.sizes.items(), key=lambda x: str(x[0]))},
                "between_var": significant(self.between, digits), "within_var": significant(self.within, digits),
                "between_share": significant(self.share, digits), "method": "one-way random effects (ANOVA)"}


def components(values: Mapping[Any, float], group_of: Mapping[Any, Any]) -> Components:
    """Between- and within-group variance of `values` (keyed like `group_of`), unbalanced groups
    allowed (n0 = (N - sum n_i^2 / N) / (k - 1))."""
    groups: dict[Any, list[float]] = {}
    for key, x in values.items():
        if key in group_of:
            groups.setdefault(group_of[key], []).append(float(x))
    means = {g: mean(xs) for g, xs in groups.items()}
    sizes = {g: len(xs) for g, xs in groups.items()}
    k, n = len(groups), sum(sizes.values())
    if k < 2:
        return Components(k, n, means, sizes, None, None)
    grand = mean([x for xs in groups.values() for x in xs])
    ms_between = sum(sizes[g] * (means[g] - grand) ** 2 for g in groups) / (k - 1)
    if n == k:
        return Components(k, n, means, sizes, ms_between, None)
    ms_within = sum((x - means[g]) ** 2 for g, xs in groups.items() for x in xs) / (n - k)
    n0 = (n - sum(s * s for s in sizes.values()) / n) / (k - 1)
    return Components(k, n, means, sizes, max(0.0, (ms_between - ms_within) / n0), ms_within)


# -- decisions -------------------------------------------------------------------------------

def holm(pvalues: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, at most 1); None stays None."""
    ranked = sorted((p, k) for k, p in pvalues.items() if p is not None)
    m = len(ranked)
    out: dict[str, float | None] = {k: None for k in pvalues}
    running = 0.0
    for i, (p, k) in enumerate(ranked):
        running = max(running, min(1.0, (m - i) * p))
        out[k] = running
    return out


def non_inferior(ci: CI | Sequence[float | None] | None, margin: float) -> bool | None:
    """Non-inferiority: the CI's lower bound of the difference clears -margin (None: no CI)."""
    if not ci or ci[0] is None:
        return None
    return ci[0] >= -margin


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
