"""The comparison's typed values (contract/comparison.py) built from the statistics
(science/stats.py): a summary over seeds, a change with its test, variance components over base
models, an interval rounded as the records keep it."""

from __future__ import annotations

from contract.comparison import BetweenBases, Change, Pair, Spread
from science import stats


def pair(ci: stats.CI | None, digits: int = 6) -> Pair | None:
    """An interval rounded as the records keep it."""
    got = stats.pair_ci(ci, digits)
    return None if got is None else (got[0], got[1])


def spread_of(s: stats.Summary) -> Spread:
    return Spread(stats.significant(s.mean), stats.significant(s.std), pair(s.ci95))


def change_of(d: stats.Difference) -> Change:
    return Change(stats.significant(d.delta), pair(d.ci95), stats.significant(d.p_value),
                  stats.significant(d.effect_size), stats.significant(d.mde), d.paired, d.method, d.n,
                  pair(d.boot_ci95) if d.boot_ci95 is not None else None, d.note or None)


def between_bases_of(c: stats.Components, digits: int = 6) -> BetweenBases:
    """The variance components as the records keep them: per base by its name, rounded."""
    return BetweenBases(
        bases=c.groups, n=c.n,
        per_base={str(g): stats.significant(m, digits) for g, m in sorted(c.means.items(), key=lambda x: str(x[0]))},
        seeds_per_base={str(g): k for g, k in sorted(c.sizes.items(), key=lambda x: str(x[0]))},
        between_var=stats.significant(c.between, digits), within_var=stats.significant(c.within, digits),
        between_share=stats.significant(c.share, digits), method="one-way random effects (ANOVA)")
