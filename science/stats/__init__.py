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

from science.stats.basics import (
    CI,
    EXACT_LIMIT,
    EXACT_NOTE,
    NON_NEGATIVE,
    POWER,
    RESAMPLES,
    RNG_SEED,
    Bounds,
    CIMethod,
    Summary,
    clean,
    clip,
    mean,
    mean_ci,
    number,
    pair_ci,
    ratio,
    sample_std,
    significant,
    summarize,
)
from science.stats.bootstrap import (
    bootstrap_ci,
    example_bootstrap,
    resamples,
)
from science.stats.differences import (
    Comparison,
    Difference,
    by_seed,
    compare,
    mde,
    paired,
    permutation_p,
    seeds_to_detect,
    welch,
)
from science.stats.groups import (
    Components,
    average,
    components,
    group_means,
    holm,
    non_inferior,
    proportion_ci,
)
from science.stats.ratios import (
    Ratio,
    Side,
    efficiency_interval,
    ratio_interval,
)
from science.stats.tdist import (
    CONFIDENCE,
    betainc,
    t_cdf,
    t_critical,
    t_ppf,
    t_sf,
    two_sided_p,
)

__all__ = [
    "CI",
    "CONFIDENCE",
    "EXACT_LIMIT",
    "EXACT_NOTE",
    "NON_NEGATIVE",
    "POWER",
    "RESAMPLES",
    "RNG_SEED",
    "Bounds",
    "CIMethod",
    "Comparison",
    "Components",
    "Difference",
    "Ratio",
    "Side",
    "Summary",
    "average",
    "betainc",
    "bootstrap_ci",
    "by_seed",
    "clean",
    "clip",
    "compare",
    "components",
    "efficiency_interval",
    "example_bootstrap",
    "group_means",
    "holm",
    "mde",
    "mean",
    "mean_ci",
    "non_inferior",
    "number",
    "pair_ci",
    "paired",
    "permutation_p",
    "proportion_ci",
    "ratio",
    "ratio_interval",
    "resamples",
    "sample_std",
    "seeds_to_detect",
    "significant",
    "summarize",
    "t_cdf",
    "t_critical",
    "t_ppf",
    "t_sf",
    "two_sided_p",
    "welch",
]
