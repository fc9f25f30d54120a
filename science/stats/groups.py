"""A replication factor above the seed (issue 22 item 6: independently pre-trained bases): group
means and one-way random-effects variance components; and the decisions: Holm's correction,
non-inferiority, a proportion's interval."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from science.stats.basics import CI, mean

Unit = TypeVar("Unit")                    # what a value is of: a seed
Group = TypeVar("Group", bound=Hashable)  # what units are grouped by: a base model


def group_means(values: Mapping[Unit, float], group_of: Mapping[Unit, Group],
                geometric: bool = False) -> dict[Group, float]:
    """The mean of each group's values (seeds grouped by the base model they fine-tuned); the
    geometric mean for a ratio's terms (the mean of their logs: log ratios average the same way),
    the arithmetic mean when a value is not positive. Values of no group are left out."""
    groups: dict[Group, list[float]] = {}
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
    means: dict[Hashable, float]
    sizes: dict[Hashable, int]
    between: float | None
    within: float | None

    @property
    def share(self) -> float | None:
        if self.between is None or self.within is None or self.between + self.within <= 0:
            return None
        return self.between / (self.between + self.within)


def components(values: Mapping[Unit, float], group_of: Mapping[Unit, Hashable]) -> Components:
    """Between- and within-group variance of `values` (keyed like `group_of`), unbalanced groups
    allowed (n0 = (N - sum n_i^2 / N) / (k - 1))."""
    groups: dict[Hashable, list[float]] = {}
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
