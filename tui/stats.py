"""Means and 95 % confidence intervals of a handful of seeds (Student's t), without scipy."""

from __future__ import annotations

import math

# two-sided 95 % critical values of Student's t by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
       18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t95(df: int) -> float:
    if df in T95:
        return T95[df]
    for bound in sorted(T95):
        if df < bound:
            return T95[bound]
    return 1.960


def mean_ci(values: list[float]) -> tuple[float, tuple[float, float] | None]:
    """The mean and its 95 % CI; no interval for a single value."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    return mean, (mean - half, mean + half)
