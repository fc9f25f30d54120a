"""Issue 22: the intervals of ratios (speedup, compression, energy) and of the efficiency score E
cover the truth as often as they say. Simulated seeds with a known log-normal ratio, n = 3, 5
and 10 seeds, 2,000 replicates each: the 95 % intervals of science/stats/ must cover the true
ratio 93-97 % of the time (the percentile bootstrap they replace covered it 67.5 % at n = 3).
The generator is seeded: the same replicates every run, no flakiness."""

from __future__ import annotations

import math
import random

import pytest

from science import stats

REPLICATES = 2000
TRUE_RATIO = 1.6        # the variant is 1.6x cheaper, in the geometric mean over seeds
SIGMA = 0.25            # the per-seed spread of the log ratio


def _coverage(n: int, draw: callable, seed: int) -> tuple[float, int]:  # type: ignore[valid-type]
    rng = random.Random(seed)
    hits = exact = 0
    for _ in range(REPLICATES):
        r = draw(rng, n)
        assert r.ci95 is not None and r.method is not None
        exact += r.exact
        hits += r.ci95[0] <= TRUE_RATIO <= r.ci95[1]
    return hits / REPLICATES, exact


def _paired_ratio(rng: random.Random, n: int) -> stats.Ratio:
    """Per seed, the reference's cost varies (a shared seed effect) and the variant's cost is it
    over a log-normal ratio: the log ratio is normal around log(TRUE_RATIO)."""
    ref = [math.exp(rng.gauss(0.0, 0.5)) for _ in range(n)]
    var = [r / math.exp(rng.gauss(math.log(TRUE_RATIO), SIGMA)) for r in ref]
    got = stats.ratio_interval(ref, var, paired_rows=True)
    assert got.method is stats.CIMethod.PAIRED_T_LOG
    return got


def _paired_efficiency(rng: random.Random, n: int) -> stats.Ratio:
    """E = (quality / reference quality) x (reference energy / energy): the quality ratio and the
    energy ratio both log-normal per seed and correlated (a seed that trains longer costs more and
    scores higher); the true E is the product of their geometric means, TRUE_RATIO."""
    variant, reference = [], []
    for _ in range(n):
        shared = rng.gauss(0.0, 1.0)
        q_log = rng.gauss(math.log(0.98), 0.02) + 0.01 * shared
        e_log = rng.gauss(math.log(TRUE_RATIO / 0.98), SIGMA) - 0.1 * shared
        q_ref, e_ref = 0.8 * math.exp(rng.gauss(0.0, 0.03)), math.exp(rng.gauss(0.0, 0.4))
        reference.append((q_ref, e_ref))
        variant.append((q_ref * math.exp(q_log), e_ref / math.exp(e_log)))
    got = stats.efficiency_interval(variant, reference, paired_rows=True)
    assert got.method is stats.CIMethod.PAIRED_T_LOG
    return got


def _unpaired_ratio(rng: random.Random, n: int) -> stats.Ratio:
    """No shared seeds: each side log-normal with the same spread, so the ratio of their means is
    TRUE_RATIO; the delta method on the log of the ratio of means, Welch's degrees of freedom."""
    ref = [math.exp(rng.gauss(0.0, 0.3)) for _ in range(n)]
    var = [math.exp(rng.gauss(-math.log(TRUE_RATIO), 0.3)) for _ in range(n)]
    got = stats.ratio_interval(ref, var, paired_rows=False)
    assert got.method is stats.CIMethod.DELTA_LOG
    return got


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("draw", [_paired_ratio, _paired_efficiency], ids=["ratio", "efficiency"])
def test_ninety_five_percent_intervals_cover_a_known_log_normal_ratio(n: int, draw: callable) -> None:  # type: ignore[valid-type]
    coverage, exact = _coverage(n, draw, seed=1000 + n)
    assert exact == 0
    assert 0.93 <= coverage <= 0.97, f"n = {n}: {coverage:.1%} of {REPLICATES} intervals cover the true ratio"


@pytest.mark.parametrize("n", [3, 5, 10])
def test_unpaired_intervals_are_never_too_narrow(n: int) -> None:
    """Without shared seeds (the fallback), the delta method with Welch-Satterthwaite's degrees of
    freedom: at 5 and 10 seeds it covers 93-97 %; at 3 it errs on the safe side (97.1 % with these
    replicates: wider than needed, never narrower)."""
    coverage, exact = _coverage(n, _unpaired_ratio, seed=1000 + n)
    assert exact == 0
    assert 0.93 <= coverage <= (0.98 if n == 3 else 0.97), f"n = {n}: {coverage:.1%} cover the true ratio"


def test_the_percentile_bootstrap_it_replaces_undercovers() -> None:
    """The same simulation, with the percentile bootstrap over seeds the validator used before: at
    n = 3 it covers far less than 95 % (the issue measured 67.5 %), which is why it is gone."""
    rng = random.Random(1003)
    hits = 0
    for _ in range(REPLICATES // 4):
        ref = [math.exp(rng.gauss(0.0, 0.5)) for _ in range(3)]
        var = [r / math.exp(rng.gauss(math.log(TRUE_RATIO), SIGMA)) for r in ref]
        ci = stats.bootstrap_ci([[math.log(a / b)] for a, b in zip(ref, var)], lambda m: math.exp(m[0]))
        assert ci is not None
        hits += ci[0] <= TRUE_RATIO <= ci[1]
    assert hits / (REPLICATES // 4) < 0.85


def test_no_variance_is_exact_and_its_p_is_never_zero() -> None:
    """The same ratio on every seed: the interval is the value, no detectable effect is given,
    and the p-value is the exact permutation test's (2 / 2^n paired), never the t-test's 0. Whether
    such a constant is fixed by construction (no evidence at all) is the analysis's call."""
    r = stats.ratio_interval([1000.0] * 3, [250.0] * 3, paired_rows=True)
    assert r.exact and r.estimate == pytest.approx(4.0) and r.ci95 == pytest.approx((4.0, 4.0))
    assert r.p_value == pytest.approx(0.25) and r.mde is None and r.method is stats.CIMethod.EXACT
    d = stats.paired([(2.0, 1.0), (3.0, 2.0), (4.0, 3.0), (1.0, 0.0), (5.0, 4.0)])
    assert d.exact and d.p_value == pytest.approx(2 / 32) and d.ci_method is stats.CIMethod.EXACT
    assert stats.paired([(0.3, 0.3), (0.1, 0.1)]).p_value == 1.0  # no difference at all
    u = stats.ratio_interval([1000.0] * 3, [250.0] * 4, paired_rows=False)
    assert u.exact and u.p_value == pytest.approx(2 / math.comb(7, 3))


def test_interval_bounds_of_costs_never_go_below_zero() -> None:
    """A ratio's interval lives on the log scale: both bounds positive however wide."""
    r = stats.ratio_interval([1.0, 50.0, 1.0], [1.0, 1.0, 2.0], paired_rows=True)
    assert r.ci95 is not None and 0 < r.ci95[0] < r.estimate < r.ci95[1]
    u = stats.efficiency_interval([(0.9, 1.0), (0.1, 30.0)], [(0.9, 4.0), (0.8, 1.0), (0.2, 9.0)], paired_rows=False)
    assert u.ci95 is not None and u.ci95[0] > 0 and u.method is stats.CIMethod.DELTA_LOG


@pytest.mark.parametrize("bases,seeds", [(2, 6), (3, 6), (5, 10)])
def test_intervals_over_the_base_models_means_cover_a_change_that_varies_between_bases(bases: int, seeds: int) -> None:
    """Issue 22 item 6: a fine-tune's change in quality differs between pre-trained bases (sd 0.6,
    a base x variant effect) and between seeds of one base (sd 0.3); seed s fine-tunes base
    s mod bases, as the LM entries do. The interval over the bases' means (df = bases - 1) covers
    the change averaged over bases ~95 % of the time; the per-seed interval, which takes the
    seeds as independent, does not."""
    rng, true_change = random.Random(7), 1.0
    over_bases = by_seed = 0
    for _ in range(REPLICATES):
        shift = [rng.gauss(0.0, 0.6) for _ in range(bases)]
        base_of = {s: s % bases for s in range(seeds)}
        pairs = {}
        for s, b in base_of.items():
            reference = 20.0 + rng.gauss(0.0, 1.0)
            pairs[s] = (reference + true_change + shift[b] + rng.gauss(0.0, 0.3), reference)
        variant = stats.group_means({s: v for s, (v, _) in pairs.items()}, base_of)
        reference = stats.group_means({s: r for s, (_, r) in pairs.items()}, base_of)
        ci = stats.paired([(variant[b], reference[b]) for b in sorted(variant)], bootstrap=False).ci95
        assert ci is not None
        over_bases += ci[0] <= true_change <= ci[1]
        naive = stats.paired(list(pairs.values()), bootstrap=False).ci95
        assert naive is not None
        by_seed += naive[0] <= true_change <= naive[1]
    assert 0.93 <= over_bases / REPLICATES <= 0.97, over_bases / REPLICATES
    assert by_seed / REPLICATES < 0.90, by_seed / REPLICATES  # why the bases are the unit
