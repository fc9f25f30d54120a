"""One variant against one reference, paired by seed (docs/AGENTS.md, `rating_breakdown.variants`):
the quality change and whether quality is kept (non-inferiority), the efficiency score E, speedup,
compression and memory ratios with t-intervals on their logs (science/stats/), whether the
control is fair, and the effect on the variant's declared objective. Built as the typed
`contract.comparison.Comparison`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from contract import quantities as q
from contract.comparison import (
    DIFFERENCE,
    EXACT,
    MEASURED,
    MODELLED,
    OBJECTIVE_ROLE,
    RATIO,
    RATIO_NAMES,
    Comparison,
    Effect,
    QualityChange,
    RatioFigure,
)
from science import stats
from science.comparison import between_bases_of, change_of, pair
from science.experiment_info import (
    BySeed,
    ExperimentInfo,
    energy_mode_of,
    fraction,
    higher_is_better,
    over_bases,
    seed_values,
)
from science.thresholds import ALPHA, BUDGET_TOLERANCE, QUALITY_MARGIN

#: the roles whose quantity, when the same on every seed, is fixed by construction (bytes of weights,
#: of optimizer state, parameter counts): exact, not evidence. A measured outcome (quality, the
#: divergence rate, time, energy) that happens to agree on every seed is still a measurement.
BY_CONSTRUCTION = ("size", "memory")
#: what a variant whose objective is exact (fixed by construction) is rated on instead: measured
#: costs, first present and measured wins (E only where energy is measured by counters)
MEASURED_FALLBACK = (("latency", "time"), ("efficiency", "efficiency"))

def _r(value: float | None, digits: int = 6) -> float | None:
    return stats.significant(value, digits)


def _aligned(v: Mapping[int, float], r: Mapping[int, float]) -> tuple[list[float], list[float], bool]:
    """Values of both sides, aligned by seed when at least two seeds are shared."""
    shared = [s for s in v if s in r]
    if len(shared) >= 2:
        return [v[s] for s in shared], [r[s] for s in shared], True
    return list(v.values()), list(r.values()), False


def _control(info: ExperimentInfo, ref: str, ref_by_seed: BySeed,
             var_by_seed: BySeed, quality_key: str) -> tuple[bool, str]:
    """Is the reference a fair control? Invalid when it has no result, any of its seeds diverged,
    it received fewer optimizer steps than the variant (beyond BUDGET_TOLERANCE), or its quality
    is below the floor the entry declares for it."""
    if not ref_by_seed:
        return False, f"the reference {ref} has no result"
    problems, checks = [], []
    diverged = sum(1 for r in ref_by_seed.values() if r.get("diverged"))
    if diverged:
        problems.append(f"the reference {ref} diverged in {diverged} of {len(ref_by_seed)} seed(s)")
    else:
        checks.append(f"{ref} did not diverge")
    ref_steps = stats.clean(r.get("budget_steps") for r in ref_by_seed.values())
    var_steps = stats.clean(r.get("budget_steps") for r in var_by_seed.values())
    if var_by_seed and all(r.get("distilled_from") == ref for r in var_by_seed.values()):
        # the variant's extra steps were a KL to this very reference (no labels): they teach it to
        # imitate its teacher, not to beat it, so they do not make the teacher an unfair control
        checks.append(f"the variant was distilled from {ref}: its extra steps are not counted against it")
    elif ref_steps and var_steps:
        rs, vs = stats.mean(ref_steps), stats.mean(var_steps)
        rq = stats.clean(r.get(quality_key) for r in ref_by_seed.values())
        vq = stats.clean(r.get(quality_key) for r in var_by_seed.values())
        # fewer steps excuse only a reference that lost: one that matched or beat the variant with
        # fewer steps is evidence against the variant, not an unfair control (issue 22)
        lost = not rq or not vq or ((stats.mean(vq) > stats.mean(rq)) == higher_is_better(quality_key)
                                    and stats.mean(vq) != stats.mean(rq))
        if rs < vs * (1 - BUDGET_TOLERANCE) and lost:
            problems.append(f"the reference {ref} is under-budgeted ({rs:.0f} optimizer steps against the "
                            f"variant's {vs:.0f}) and lost on {quality_key}")
        elif rs < vs * (1 - BUDGET_TOLERANCE):
            checks.append(f"the reference {ref} had fewer steps ({rs:.0f} vs {vs:.0f}) and still did not lose on "
                          f"{quality_key}: evidence against the variant, not an unfair control")
        else:
            checks.append(f"budgets {rs:.0f} vs {vs:.0f} steps")
    else:
        checks.append("budget_steps not reported: budgets not checked")
    floor = info.floor(ref)
    quality = stats.clean(r.get(quality_key) for r in ref_by_seed.values())
    if floor is not None and quality:
        q = stats.mean(quality)
        if q < floor:
            problems.append(f"the reference {ref} reaches {quality_key} {q:.4g}, below the declared floor {floor:g}")
        else:
            checks.append(f"{ref} {quality_key} {q:.4g} >= floor {floor:g}")
    if problems:
        return False, "; ".join(problems)
    return True, "; ".join(checks)


def edge_of_grid(name: str, by_seed: BySeed) -> str | None:
    """Why ``name``'s tuned setting may lie outside its grid: its runs report the value chosen on
    validation data on a grid's edge (`grid_edge`, experiments/harness/grids.py) in a majority of
    seeds. None when they do not (or report no grid)."""
    notes = [r.get("grid_edge") for r in by_seed.values()]
    on_edge = [n for n in notes if isinstance(n, str) and n]
    if not by_seed or 2 * len(on_edge) <= len(by_seed):
        return None
    return f"{name}: {on_edge[0]} on {len(on_edge)} of {len(by_seed)} seeds"


def _interleaved(info: ExperimentInfo, name: str, ref: str, var_by_seed: BySeed,
                 key: str) -> bool:
    """The variant's runs timed the reference in the same process (`ref_<key>`): a program that
    holds both models loads the reference it depends on. A variant that depends on several (a
    stack: the dense model and the pruned one it quantizes) times one of them, the one its results
    name (`ref_variant`): its `ref_*` figures are that reference's and no other's."""
    return ref in info.depends_on.get(name, []) and bool(var_by_seed) and \
        all(stats.number(r.get(f"ref_{key}")) is not None and r.get("ref_variant", ref) == ref
            for r in var_by_seed.values())




@dataclass(frozen=True)
class _Sides:
    """Both sides' results: the seeds' own (controls, grids, examples, costs), those the model's
    weights decide (over the base models' means when replicated), and the geometric means of the
    bases for E's terms."""

    seeds_v: BySeed
    seeds_r: BySeed
    var: BySeed
    ref: BySeed
    geo_v: BySeed
    geo_r: BySeed
    base_of: Mapping[int, int] | None

    @classmethod
    def of(cls, var: BySeed, ref: BySeed,
           base_of: Mapping[int, int] | None) -> _Sides:
        if base_of is None or len({base_of[s] for s in var if s in ref and s in base_of}) < 2:
            return cls(var, ref, var, ref, var, ref, None)
        over_v, over_r = over_bases(var, ref, base_of, False)
        geo_v, geo_r = over_bases(var, ref, base_of, True)
        return cls(var, ref, over_v, over_r, geo_v, geo_r, base_of)

    @property
    def replicated(self) -> bool:
        return self.base_of is not None


def _quality(info: ExperimentInfo, qk: str, sides: _Sides) -> tuple[stats.Difference, QualityChange, list[int]]:
    """The paired quality change, as recorded: its kind, the reference's mean, the change relative
    to it (a perplexity, a loss), and over test examples where the runs report them."""
    qv, qr = seed_values(sides.var, qk), seed_values(sides.ref, qk)
    quality = stats.by_seed(qv, qr, (-1.0, 1.0) if fraction(qk) else None)
    if sides.replicated and quality.paired:
        quality = replace(quality, over_bases=True)
    sv, sr = seed_values(sides.seeds_v, qk), seed_values(sides.seeds_r, qk)
    shared = [s for s in sv if s in sr]
    correct = [(sides.seeds_v[s].get("test_correct"), sides.seeds_r[s].get("test_correct")) for s in shared]
    examples = None
    if len(shared) >= 1 and all(isinstance(a, list) and isinstance(b, list) for a, b in correct):
        boot = stats.example_bootstrap(correct)  # type: ignore[arg-type]
        if boot is not None:
            examples = pair(boot[1])
    base = change_of(quality)
    kind = q.kind_of(qk)
    ref_mean = stats.mean(list(qr.values())) if qr else None
    relative = relative_ci = None
    if q.info(kind).change is q.Change.RELATIVE:
        relative = _r(q.relative(base.mean, ref_mean))
        ci = base.ci95
        relative_ci = None if not ci or None in ci else (_r(q.relative(ci[0], ref_mean)), _r(q.relative(ci[1], ref_mean)))
    qd = QualityChange(**{**base.__dict__, "examples_ci95": examples, "kind": kind.value,
                          "reference_mean": _r(ref_mean), "relative": relative, "relative_ci95": relative_ci})
    return quality, qd, shared


def _kept(info: ExperimentInfo, qk: str, quality: stats.Difference, qd: QualityChange,
          ref: BySeed) -> tuple[float, float, bool | None]:
    """Quality kept: non-inferiority on the seeds' CI and (when reported) the test examples' CI.
    The margin (points of a fraction, or a share of the reference's mean), the one declared, and
    the verdict (None without an interval)."""
    qr = seed_values(ref, qk)
    declared = info.quality_margin if info.quality_margin is not None else QUALITY_MARGIN
    margin = declared if fraction(qk) else declared * abs(stats.mean(list(qr.values())) if qr else 0.0)
    up = higher_is_better(qk)
    ends = [c[0] if up else c[1] for c in (quality.ci95, qd.examples_ci95) if c]
    lows = [x if up else -x for x in ends if x is not None]
    return margin, declared, None if not lows else bool(min(lows) >= -margin)


def _ratios(info: ExperimentInfo, keys: dict[str, str], name: str, ref: str,
            sides: _Sides) -> tuple[dict[str, stats.Ratio], list[str]]:
    """Each cost's ratio (reference / variant), paired by seed; timed in one process where the
    variant's runs timed the reference too (`interleaved`)."""
    ratios: dict[str, stats.Ratio] = {}
    interleaved = []
    for role in RATIO_NAMES:
        key = keys.get(role)
        if key is None:
            continue
        if _interleaved(info, name, ref, sides.seeds_v, key):
            rows = [(stats.number(r.get(f"ref_{key}")), stats.number(r.get(key))) for r in sides.seeds_v.values()]
            num = [a for a, b in rows if a is not None and b is not None]
            den = [b for a, b in rows if a is not None and b is not None]
            ratios[role] = stats.ratio_interval(num, den, True)
            interleaved.append(role)
            continue
        den_v, num_r, is_paired = _aligned(seed_values(sides.seeds_v, key), seed_values(sides.seeds_r, key))
        if den_v and num_r:
            ratios[role] = stats.ratio_interval(num_r, den_v, is_paired)
    return ratios, interleaved


def compare(info: ExperimentInfo, keys: dict[str, str], name: str, ref: str,
            var_by_seed: BySeed, ref_by_seed: BySeed,
            base_of: Mapping[int, int] | None = None) -> Comparison:
    """One variant against one reference: every number of docs/AGENTS.md's comparison. With
    `base_of` (seeds fine-tuning at least two independently pre-trained bases, issue 22 item 6),
    what the model's weights decide (quality, validation, stability, E) is compared over the bases'
    means, so its interval covers the variation between bases, and `between_bases` gives the
    variance components of the paired quality change; measured costs of the same architecture
    (time, energy, memory, size) stay paired by seed."""
    qk = keys["quality"]
    sides = _Sides.of(var_by_seed, ref_by_seed, base_of)
    quality, qd, shared = _quality(info, qk, sides)
    between = None
    if sides.base_of is not None:
        sv, sr = seed_values(sides.seeds_v, qk), seed_values(sides.seeds_r, qk)
        between = between_bases_of(stats.components({s: sv[s] - sr[s] for s in sv if s in sr}, sides.base_of))
    margin, declared, kept = _kept(info, qk, quality, qd, sides.ref)
    ratios, interleaved = _ratios(info, keys, name, ref, sides)
    eff = _efficiency(keys, higher_is_better(qk), sides.geo_v, sides.geo_r, "energy" in interleaved)
    if sides.replicated and eff.method is stats.CIMethod.PAIRED_T_LOG:
        eff = replace(eff, method=stats.CIMethod.PAIRED_T_LOG_BASES)
    # how each interval was computed, and which quantities are exact (the same on every seed)
    methods = {"quality_delta": quality.ci_method}
    methods.update({RATIO_NAMES[role]: r.method for role, r in ratios.items() if r.method is not None})
    if eff.method is not None:
        methods["efficiency_score"] = eff.method
    exact = [role for role in BY_CONSTRUCTION if role in ratios and ratios[role].exact]
    stability = None
    if "stability" in keys:
        sv, sr = seed_values(sides.var, keys["stability"]), seed_values(sides.ref, keys["stability"])
        if sv and sr:
            stability = stats.by_seed(sv, sr, (-1.0, 1.0) if fraction(keys["stability"]) else None)
    valid, note = _control(info, ref, sides.seeds_r, sides.seeds_v, qk)
    # either arm tuned on a grid whose edge it chose: the optimum may lie outside, no effect points
    edges = [e for e in (edge_of_grid(name, sides.seeds_v), edge_of_grid(ref, sides.seeds_r)) if e]
    figures = {role: RatioFigure(_r(r.estimate, 4), pair(r.ci95, 4), None if role in exact else _r(r.p_value))
               for role, r in ratios.items()}
    if eff.estimate is not None:
        ratios["efficiency"] = eff
    effect = _effect(info, keys, name, ref, quality, qd, stability, ratios, sides)
    return Comparison(
        reference=ref, objective=info.objective(name, ref), role=info.roles.get(name) or None, between_bases=between,
        quality_delta=qd, p_value=qd.p_value, effect_size=qd.effect_size, paired=quality.paired,
        n_pairs=(len(shared) if sides.replicated else quality.n) if quality.paired else 0,
        n_bases=quality.n if sides.replicated else None, quality_margin=_r(margin), quality_margin_declared=declared,
        quality_kept=kept, ratios=figures, interleaved=tuple(interleaved) or None,
        efficiency_score=_r(eff.estimate, 4), efficiency_score_ci95=pair(eff.ci95, 4),
        efficiency_score_p_value=_r(eff.p_value), ci_methods={k: str(m) for k, m in methods.items()},
        exact=tuple(RATIO_NAMES[role] for role in exact),
        stability_delta=None if stability is None else change_of(stability), control_valid=valid, control_note=note,
        edge_of_grid="; ".join(edges) if edges else None, effect=effect)


def _efficiency(keys: dict[str, str], up: bool, var: BySeed, ref: BySeed,
                interleaved: bool) -> stats.Ratio:
    """E = (quality / reference quality) x (reference energy / energy): paired by seed when two or
    more seeds have all four values (a t-interval on log E per seed), else unpaired (the delta
    method on log E of the means)."""
    qk, ek = keys["quality"], keys["energy"]
    rows_v, rows_r = [], []
    for s, r in var.items():
        other = ref.get(s)
        if other is None:
            continue
        mine = _terms(stats.number(r.get(qk)), stats.number(r.get(ek)))
        theirs = _terms(stats.number(other.get(qk)),
                        stats.number(r.get(f"ref_{ek}") if interleaved else other.get(ek)))
        if mine is not None and theirs is not None:
            rows_v.append(mine)
            rows_r.append(theirs)
    if len(rows_v) >= 2:
        return stats.efficiency_interval(rows_v, rows_r, True, up)
    gv = [t for r in var.values() if (t := _terms(stats.number(r.get(qk)), stats.number(r.get(ek)))) is not None]
    gr = [t for r in ref.values() if (t := _terms(stats.number(r.get(qk)), stats.number(r.get(ek)))) is not None]
    return stats.efficiency_interval(gv, gr, False, up)


def _terms(quality: float | None, energy: float | None) -> tuple[float, float] | None:
    """E's terms of one side, when both are known."""
    return None if quality is None or energy is None else (quality, energy)


def _ratio_effect(objective: str | None, metric: str | None, r: stats.Ratio, tested: stats.Ratio,
                  by_construction: bool = False, tested_on: str | None = None) -> Effect:
    """A ratio's effect: the estimate and CI of `r`, the test (p, MDE, same direction) of
    `tested` (the same ratio, or time where energy is modelled). `by_construction`: the ratio is a
    size or memory that is the same on every seed: exact, untested, no effect."""
    per_seed = tested.per_seed
    est_ok = r.estimate is not None and r.estimate > 1
    exact = by_construction and r.exact
    return Effect(objective=objective, metric=metric, kind=RATIO, estimate=_r(r.estimate, 4), ci95=pair(r.ci95, 4),
                  p_value=None if exact else _r(tested.p_value), mde=_r(tested.mde, 4),
                  ci_method=str(r.method) if r.method else None, effect_kind=EXACT if exact else MEASURED,
                  significant=bool(est_ok and not exact and tested.p_value is not None and tested.p_value < ALPHA
                                   and tested.estimate is not None and tested.estimate > 1),
                  consistent=(all(x > 1 for x in per_seed) if len(per_seed) >= 2 and not exact else None),
                  tested_on=tested_on)


def _measured_instead(keys: dict[str, str], role: str, ratios: dict[str, stats.Ratio],
                      energy_measured: bool) -> Effect | None:
    """For an exact objective: the first measured cost ratio (latency, else E where energy is
    measured) the rubric judges the variant on, with its own test; None without one."""
    for objective, which in MEASURED_FALLBACK:
        got = ratios.get(which)
        if which == role or got is None or got.ci95 is None or (which == "efficiency" and not energy_measured):
            continue
        metric = "efficiency_score" if which == "efficiency" else keys.get(which)
        return _ratio_effect(objective, metric, got, got, tested_on=metric)
    return None


def _cost_effect(objective: str, keys: dict[str, str], role: str, ratios: dict[str, stats.Ratio],
                 energy_measured: bool) -> Effect:
    """The effect on a cost objective (energy, latency, memory, size): its ratio, tested on itself,
    or on time where energy is modelled from CPU time (not a second measurement)."""
    r = ratios.get(role)
    if r is None:
        return Effect(objective=objective, metric=keys.get(role), kind=RATIO, note=f"no {keys.get(role, role)} to compare")
    tested, note = role, None
    if role == "energy" and not energy_measured:
        tested = "time"
        note = f"energy {MODELLED}: its significance is tested on {keys.get('time', 'time')}"
    t = ratios.get(tested) or stats.Ratio(None, None, None, None, 0, False)
    effect = replace(_ratio_effect(objective, keys.get(role), r, t, role in BY_CONSTRUCTION, keys.get(tested)), note=note)
    if tested != role and tested in ratios:
        # the rubric judges the effect's size on the smaller of the two lower bounds
        effect = replace(effect, tested_estimate=_r(ratios[tested].estimate, 4), tested_ci95=pair(ratios[tested].ci95, 4))
    return effect


def _gain_effect(objective: str, keys: dict[str, str], role: str, d: stats.Difference | None,
                 qd: QualityChange, sides: _Sides) -> Effect:
    """The effect on quality or stability: the change stored as a gain (higher quality, a lower
    loss, a lower divergence rate: positive), paired by seed where it can be."""
    metric = keys.get(role)
    if d is None or d.delta is None:
        return Effect(objective=objective, metric=metric, kind=DIFFERENCE, note=f"no {keys.get(role, role)} to compare",
                      quantity=q.kind_of(metric).value, reference_mean=qd.reference_mean if role == "quality" else None)
    sign = 1.0 if (role == "quality" and higher_is_better(keys["quality"])) else -1.0
    ci = None if d.ci95 is None else (sign * d.ci95[0], sign * d.ci95[1]) if sign > 0 else (-d.ci95[1], -d.ci95[0])
    vals_v, vals_r = seed_values(sides.var, keys[role]), seed_values(sides.ref, keys[role])
    per_seed = [sign * (vals_v[s] - vals_r[s]) for s in vals_v if s in vals_r] if d.paired else []
    return Effect(objective=objective, metric=metric, kind=DIFFERENCE, estimate=_r(sign * d.delta), ci95=pair(ci),
                  p_value=_r(d.p_value), mde=_r(d.mde), tested_on=metric, ci_method=str(d.ci_method),
                  effect_kind=MEASURED, significant=bool(sign * d.delta > 0 and d.p_value is not None and d.p_value < ALPHA),
                  consistent=(all(x > 0 for x in per_seed) if len(per_seed) >= 2 else None),
                  quantity=q.kind_of(metric).value, reference_mean=qd.reference_mean if role == "quality" else None)


def _effect(info: ExperimentInfo, keys: dict[str, str], name: str, ref: str, quality: stats.Difference,
            qd: QualityChange, stability: stats.Difference | None, ratios: dict[str, stats.Ratio],
            sides: _Sides) -> Effect:
    """The effect on the variant's objective: estimate, CI and how it was computed, p, MDE, what
    it was tested on, whether every paired seed points the same (good) way, and whether it was
    measured or is exact (the same on every seed: fixed by construction, nothing to test; the
    rubric then judges the variant on a measured cost, `measured`)."""
    objective = info.objective(name, ref)
    role = OBJECTIVE_ROLE[objective]
    energy_measured = energy_mode_of(list(sides.var.values()) + list(sides.ref.values())) == "measured"
    if role in RATIO_NAMES:
        effect = _cost_effect(objective, keys, role, ratios, energy_measured)
    else:
        effect = _gain_effect(objective, keys, role, quality if role == "quality" else stability, qd, sides)
    if not effect.exact:
        return effect
    note = "; ".join(x for x in (effect.note, f"{effect.metric} is the same on every seed: exact (fixed "
                                 "by construction), no p-value, no effect point on it") if x)
    return replace(effect, note=note, measured=_measured_instead(keys, role, ratios, energy_measured))
