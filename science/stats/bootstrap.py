"""Deterministic bootstraps: every resample when there are few, else seeded draws; over seeds
and over test examples (numpy, imported lazily)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from operator import itemgetter

from science.stats.basics import CI, EXACT_LIMIT, RESAMPLES, RNG_SEED, Bounds, clip
from science.stats.tdist import CONFIDENCE


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
