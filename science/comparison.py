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


def between_bases_of(c: stats.Components) -> BetweenBases:
    return BetweenBases.from_json(c.to_json())
