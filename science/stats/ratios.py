"""Ratios of positive costs (speedup, compression, energy, the efficiency score E) with
t-intervals on their logs: paired by seed, or the delta method on the log of a ratio of means."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from science.stats.basics import CI, EXACT_NOTE, CIMethod, clean, mean, number, ratio, sample_std
from science.stats.differences import mde, permutation_p
from science.stats.tdist import t_critical, two_sided_p


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
