"""Follow-ups from the evidence of a rated experiment: more seeds where a confidence interval is
too wide, a range extended where the best variant sits at its edge.

A variant's own setting (e.g. `sparsity` 0.7) comes from a list parameter of the experiment
(`sparsities` [0.3, 0.5, 0.7]); follow-ups change those lists, so the catalog still validates
every value against its declared range.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from contract import quantities, units
from contract.child_kinds import FollowUpKind
from contract.comparison import Effect, Pair
from contract.deliverable import Deliverable
from contract.jsonvalue import JsonObject
from contract.limits import MAX_SEEDS
from contract.modifications import Modifications
from contract.params import Param, ParamValue, ParamValues
from contract.rating_record import Breakdown, Headline, VariantResult
from db.rows import Experiment
from science import stats
from science import text as t
from science.headline import effect_text, quality_text
from science.thresholds import ALPHA, CI_TOO_WIDE, MIN_SEEDS, PROMISING_E, QUALITY_MARGIN

LIST_TYPES = ("int_list", "float_list", "str_list")
#: an entry's declared parameters by name (the list parameters are the ones the rules change)
Declared = Mapping[str, Param]


@dataclass(frozen=True)
class FollowUp:
    kind: FollowUpKind
    changes: ParamValues           # parameters changed against the parent's
    seeds: int
    rationale: str
    evidence: list[str] = field(default_factory=list)
    deliverables: tuple[Deliverable, ...] = ()  # the question it answers, as tests
    #: a child of another catalog entry (None: the parent's entry), with its complete parameters
    catalog: str | None = None
    params: ParamValues | None = None
    hypothesis: str = ""
    question: str = ""

    def texts(self, parent_id: int, parent_seeds: int, quality: str, baseline: str,
              margin: float | None = None) -> tuple[str, str]:
        """The hypothesis and research question the follow-up tests (``margin``: the parent's
        "quality kept" margin, points of a fraction or a share of the reference; None: the lab's)."""
        if self.hypothesis:
            return self.hypothesis, self.question
        changes = ", ".join(f"{k}={v}" for k, v in self.changes.items()) or "the same parameters"
        if self.kind == FollowUpKind.MORE_SEEDS:
            return (f"With {self.seeds} seeds instead of {parent_seeds}, the confidence intervals of experiment "
                    f"{parent_id} narrow enough to decide its effect on {quality}.",
                    f"Is the effect seen in experiment {parent_id} ({changes}) real at {self.seeds} seeds?")
        return (f"The advantage seen in experiment {parent_id} continues beyond the tested range: with {changes}, "
                f"E rises further while {quality} stays within "
                f"{units.margin(QUALITY_MARGIN if margin is None else margin, quantities.kind_of(quality))} "
                f"of {baseline}.",
                f"Where does the gain of experiment {parent_id} stop as the range is extended ({changes})?")

    def modifications(self, parent_seeds: int) -> Modifications:
        seeds = {"from": parent_seeds, "to": self.seeds} if self.seeds != parent_seeds else None
        return Modifications(self.kind, self.changes, self.rationale, tuple(self.evidence), seeds)


def list_param_for(key: str, value: ParamValue, params: Mapping[str, ParamValue], declared: Declared) -> str | None:
    """The experiment's list parameter a variant setting was drawn from (`sparsity` -> `sparsities`)."""
    names = {key + "s", key + "es"}
    if key.endswith("y"):
        names.add(key[:-1] + "ies")
    for name in sorted(names):
        spec, listed = declared.get(name), params.get(name)
        if spec is not None and spec.type in LIST_TYPES and isinstance(listed, list) and value in listed:
            return name
    return None


def focus(variant_params: Mapping[str, ParamValue], params: Mapping[str, ParamValue],
          declared: Declared) -> ParamValues:
    """Parameter changes that narrow the plan to one variant's settings (plus the baseline)."""
    changes: ParamValues = {}
    for key, value in variant_params.items():
        name = list_param_for(key, value, params, declared)
        if name is not None and params[name] != [value]:
            changes[name] = listed(value)
    return changes


def listed(value: ParamValue) -> ParamValue:
    """A setting as the one-item list parameter that plans it (None: not a setting)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, int | float):
        return [value]
    return None


def _half_width(ci: Pair | None) -> float | None:
    """Half the width of an interval with both ends."""
    if ci is None or ci[0] is None or ci[1] is None:
        return None
    return (ci[1] - ci[0]) / 2


def _geometric(values: list[float]) -> bool:
    """A list that multiplies by a constant factor (8, 16, 32): doubling, or 3+ values alike."""
    if values[0] <= 0:
        return False
    ratios = [b / a for a, b in itertools.pairwise(values)]
    alike = all(abs(r - ratios[0]) <= 0.05 * ratios[0] for r in ratios)
    return alike and ratios[0] >= 1.5 and (len(values) >= 3 or abs(ratios[0] - 2) < 1e-9)


def _step(values: list[float], at_top: bool, spec: Param) -> float | None:
    """The next value beyond an edge of a sorted numeric list, within the declared range."""
    a, b = (values[-2], values[-1]) if at_top else (values[1], values[0])
    nxt = b * b / a if _geometric(values) else b + (b - a)
    if spec.max is not None:
        nxt = min(nxt, spec.max)
    if spec.min is not None:
        nxt = max(nxt, spec.min)
    if spec.type == "int_list":
        nxt = float(round(nxt))
    nxt = round(nxt, 6)
    return None if nxt == b else nxt


def suggest(exp: Experiment, breakdown: Breakdown, declared: Declared) -> list[FollowUp]:
    """Follow-ups of a finished experiment from its rating breakdown (see module doc)."""
    seeds = exp.seeds
    more = min(MAX_SEEDS, max(MIN_SEEDS, seeds * 2))
    repetition = exp.modifications.kind == FollowUpKind.MORE_SEEDS
    if repetition:
        more = seeds  # already a repetition with more seeds: its intervals are the answer, not another doubling
    headline = breakdown.headline
    out: list[FollowUp] = []
    if headline is not None and headline.control_valid is False:
        pass  # a void comparison: more seeds of a broken control answer nothing (the catalog must fix it)
    elif headline is not None:
        out.extend(_of_headline(exp, breakdown, headline, declared, more, repetition))
    elif (b := breakdown.variants.get(breakdown.baseline or "")) is not None and b.n > 0:
        out.extend(_of_baseline(exp, breakdown, b, more))
    out.extend(children(exp, breakdown))
    return out


def _of_headline(exp: Experiment, breakdown: Breakdown, headline: Headline, declared: Declared,
                 more: int, repetition: bool) -> list[FollowUp]:
    """More seeds where the headline's quality interval is too wide or its effect promising but
    not significant; a range extended where it sits at the edge of its list."""
    exp_id, seeds, params = exp.id, exp.seeds, exp.params
    quality_key = breakdown.keys.get("quality", "quality")
    name = headline.variant
    v = breakdown.variants[name]
    ci = headline.quality_delta_ci95
    e = headline.efficiency_score
    effect = headline.effect_detail
    c = v.compared
    p_cost = (effect.p_adjusted if effect.p_adjusted is not None else effect.p_value) if effect else (
        c.p_value_of("energy") if c.p_value_of("energy") is not None else c.p_value_of("time"))
    significant = effect.significant if effect else (p_cost is not None and p_cost < ALPHA)
    reasons = []
    limit, said = _too_wide(quality_key, headline, breakdown.variants)
    if (half := _half_width(ci)) is not None and half > limit:
        reasons.append(f"the 95 % CI of {name}'s {quality_key} change "
                       f"({units.change_interval(ci, quantities.kind_of(quality_key))}) is wider "
                       f"than {said}, too wide to tell whether quality is kept")
    promising = _promising(effect, e)
    if promising and not significant:
        what = f"its effect on {effect.objective} ({effect_text(effect)})" if effect else f"E = {units.num(e)}"
        reasons.append(f"{name} reaches {what} but it is not significant ({units.p_equals(p_cost)})")
        if not repetition:
            more = min(MAX_SEEDS, max(more, _seeds_to_detect(effect, v.n)))
    if v.n < MIN_SEEDS:
        reasons.append(f"{name} has {v.n} seed(s), fewer than the {MIN_SEEDS} the rubric asks for")
    out = []
    if reasons and more > seeds:
        # what the repetition must show: quality not worse by more than a point, a cost truly lower
        tests: list[JsonObject] = [{"kind": "statistical_test", "role": "quality", "variant": name,
                                        "expect": "not_worse", "margin": CI_TOO_WIDE}]
        if promising and (effect is None or effect.is_ratio):
            role = _cost_role(effect, v)
            key = breakdown.keys.get(role)
            tests.append({"kind": "statistical_test", **({"key": key} if key else {"role": role}),
                          "variant": name, "expect": "less", "alpha": ALPHA})
        out.append(FollowUp(
            FollowUpKind.MORE_SEEDS, focus(v.params, params, declared), more,
            f"repeat {name} against {headline.reference or breakdown.baseline} with {more} seeds: " + "; ".join(reasons),
            [f"experiment {exp_id}: " + r for r in reasons], tuple(map(Deliverable.of, tests))))
    ext = _extension(exp_id, name, v, headline, params, declared, seeds)
    return out if ext is None else [*out, ext]


def _of_baseline(exp: Experiment, breakdown: Breakdown, b: VariantResult, more: int) -> list[FollowUp]:
    """Without a comparison: more seeds of the baseline when it has too few or too wide a CI."""
    baseline = breakdown.baseline
    ci = b.quality.ci95
    reasons = []
    if b.n < MIN_SEEDS:
        reasons.append(f"{t.the('baseline', baseline)} has {b.n} seed(s), fewer than the {MIN_SEEDS} the rubric asks for")
    elif (half := _half_width(ci)) is not None and half > CI_TOO_WIDE:
        reasons.append(f"the 95 % CI of {baseline}'s {breakdown.quality_key} "
                       f"({units.interval(ci, quantities.Kind.FRACTION, 3)}) is wider than "
                       f"±{units.margin(CI_TOO_WIDE, quantities.Kind.FRACTION)}")
    if not reasons or more <= exp.seeds:
        return []
    return [FollowUp(FollowUpKind.MORE_SEEDS, {}, more, f"measure {baseline} with {more} seeds: " + "; ".join(reasons),
                     [f"experiment {exp.id}: " + r for r in reasons])]


def _promising(effect: Effect | None, e: float | None) -> bool:
    """An effect worth more seeds: a cost ratio above PROMISING_E, or a positive quality or stability gain."""
    est = effect.estimate if effect else e
    if not isinstance(est, (int, float)):
        return False
    return est > PROMISING_E if (not effect or effect.is_ratio) else est > 0


def _too_wide(quality_key: str, headline: Headline, variants: dict[str, VariantResult]) -> tuple[float, str]:
    """The half-width above which a quality change's CI is too wide, and how it is said: 1 point
    of an accuracy; 1 % of the reference for a perplexity or a loss (in its own unit)."""
    kind = quantities.kind_of(quality_key)
    if kind is quantities.Kind.FRACTION:
        return CI_TOO_WIDE, f"±{units.margin(CI_TOO_WIDE, kind)}"
    ref = headline.quality_reference_mean
    if not isinstance(ref, (int, float)):
        reference = variants.get(str(headline.reference))
        ref = reference.quality.mean if reference is not None else None
    if not isinstance(ref, (int, float)) or not ref:
        return math.inf, ""
    limit = CI_TOO_WIDE * abs(ref)
    return limit, f"±{units.change(limit, kind).lstrip('+')} ({units.margin(CI_TOO_WIDE, quantities.Kind.PERPLEXITY)})"


def _cost_role(effect: Effect | None, v: VariantResult) -> str:
    """The role a cost test checks: time when the energy is modelled from CPU time."""
    role = {"energy": "energy", "latency": "time", "memory": "memory", "size": "size"}.get(
        str(effect.objective if effect else None), "energy")
    return "time" if role == "energy" and v.energy_estimated else role


def _seeds_to_detect(effect: Effect | None, n: int) -> int:
    """Seeds at which the observed effect would reach the minimum detectable effect (0: unknown;
    MAX_SEEDS when more than that would be needed)."""
    if effect is None:
        return 0
    est, mde = effect.estimate, effect.mde
    if not isinstance(est, (int, float)) or not isinstance(mde, (int, float)):
        return 0
    if effect.is_ratio:
        if est <= 1 or mde <= 1:
            return 0
        size, detect = math.log(est), math.log(mde)
    else:
        size, detect = abs(est), mde
    needed = stats.seeds_to_detect(size, detect, n, limit=MAX_SEEDS)
    return MAX_SEEDS if needed is None else needed


@dataclass(frozen=True)
class ChildRule:
    """How a parent's result leads to an experiment of another entry (``catalog``): among the
    parent's variants whose ``kind_of`` parameter has its value, the best one's ``keys`` set on the
    parent's parameters less ``drop`` (its own plan lists), ``swap`` replacing a value by another."""

    catalog: str
    kind_of: tuple[str, str]
    keys: tuple[str, ...]
    drop: tuple[str, ...]
    swap: Mapping[str, tuple[str, str]]


#: entries whose result leads to an experiment of another entry: the parent's parameters (less its
#: own plan lists) plus the settings of its best variant
CHILD_ENTRIES: dict[str, ChildRule] = {
    "lora_rank": ChildRule("lora_merge", ("method", "lora"), ("rank", "allocation"),
                           ("methods", "ranks", "allocations", "budget_rank"),
                           {"lora_targets": ("auto", "all")}),  # lora_rank's "auto" adapts every projection
}


def children(exp: Experiment, breakdown: Breakdown) -> list[FollowUp]:
    """lora_rank -> lora_merge: the best adapter of the parent (highest quality among its LoRA
    variants with results) is trained again and merged, saved and reloaded, in FP32 and BF16."""
    rule = CHILD_ENTRIES.get(exp.catalog)
    if rule is None:
        return []
    key, value = rule.kind_of
    scored = {n: mean for n, v in breakdown.variants.items() if v.n and v.params.get(key) == value
              and isinstance(mean := v.quality.mean, (int, float))}
    if not scored:
        return []
    name = max(scored, key=lambda n: (scored[n], n))
    own = breakdown.variants[name].params
    params: ParamValues = {k: v for k, v in exp.params.items() if k not in rule.drop}
    for k, (was, now) in rule.swap.items():
        if params.get(k) == was:
            params[k] = now
    changes: ParamValues = {k: own[k] for k in rule.keys if k in own}
    params.update(changes)
    why = (f"{name} is the best adapter of experiment {exp.id} ({breakdown.quality_key} "
           f"{units.num(scored[name])})")
    settings = ", ".join(f"{k} {v}" for k, v in changes.items())
    return [FollowUp(
        FollowUpKind.CHILD, changes, exp.seeds, f"{rule.catalog} of {name} ({settings}): {why}", [f"experiment {exp.id}: {why}"],
        catalog=rule.catalog, params=params,
        hypothesis=f"The adapter of {name} (experiment {exp.id}; {settings}) merged into the weights gives "
                   "the same perplexity in FP32, within numerical noise, and a slightly higher one in BF16 "
                   "(+1.7 % was published for an 8B model); saving and reloading changes nothing.",
        question=f"Does the best adapter of experiment {exp.id} ({name}) keep its quality when merged, "
                 "saved and reloaded, in FP32 and in BF16, and what does merging save in latency?")]


def _extension(exp_id: int, name: str, v: VariantResult, headline: Headline, params: Mapping[str, ParamValue],
               declared: Declared, seeds: int) -> FollowUp | None:
    if not headline.quality_kept:
        return None
    own = v.params
    for key, value in own.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        list_name = list_param_for(key, value, params, declared)
        if list_name is None:
            continue
        listed = params[list_name]
        spec = declared[list_name]
        values = sorted({float(x) for x in listed if isinstance(x, (int, float))}) if isinstance(listed, list) else []
        if len(values) < 2 or float(value) not in (values[0], values[-1]):
            continue
        at_top = float(value) == values[-1]
        nxt = _step(values, at_top, spec)
        if nxt is None:
            continue
        typed = int(nxt) if spec.type == "int_list" else nxt
        changes = focus({k: x for k, x in own.items() if k != key}, params, declared)
        changes[list_name] = sorted([value, typed])
        edge = "largest" if at_top else "smallest"
        reason = (f"{name}, the best variant (E = {units.ratio(headline.efficiency_score)}, "
                  f"{quality_text(headline, headline.quality_key or 'quality')}), uses the {edge} {key} tested "
                  f"({value} of {params[list_name]})")
        return FollowUp(FollowUpKind.EXTEND_RANGE, changes, seeds, f"extend {list_name} beyond {value} to {typed}: {reason}",
                        [f"experiment {exp_id}: {reason}"])
    return None
