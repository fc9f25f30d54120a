"""Findings: what one experiment showed, one sentence per variant, written from its numbers.

They are the knowledge base the researcher reads (table `findings`) and the `findings` list of
the rating breakdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contract import quantities, units
from contract.comparison import MODELLED, Comparison, Effect
from contract.finding_data import BaselineData, ComparisonData, FailedData, FindingData, SkippedData
from contract.rating_record import VariantResult
from db import Run, RunState
from science import text as t
from science.analysis import Analysis
from science.headline import effect_text, quality_change

NO_EFFECT_BAND = 0.1  # a cost ratio within 10 % of 1: no measurable effect


@dataclass(frozen=True)
class Finding:
    variant: str | None
    kind: str  # baseline, effect, tradeoff, no_effect, worse, void, skipped, diverged, failed
    text: str
    data: FindingData

    def row(self) -> tuple[str | None, str, str, FindingData]:
        """As the findings table keeps it (its data written to a JSON column by the store)."""
        return (self.variant, self.kind, self.text, self.data)


def _energy_label(v: VariantResult) -> str:
    """How the energy was obtained: hardware counters, or a model of CPU time (old records say
    'estimated')."""
    return f" ({MODELLED})" if v.energy_estimated else " (measured)" if v.energy_mode == "measured" else ""


def _baseline(exp_id: int, a: Analysis) -> Finding | None:
    base = a.baseline
    if base is None or base.n == 0:
        return None
    return _reference_point(exp_id, a, a.info.baseline, base, "baseline")


def _reference_point(exp_id: int, a: Analysis, name: str, v: VariantResult, what: str = "reference") -> Finding:
    """The baseline, or a control of its own (e.g. the FP32 transformer beside the FP32 MLP baseline)."""
    q, e = v.quality, v.summary("energy")
    kind = quantities.kind_of(a.keys["quality"])
    text = (f"experiment {exp_id}: {t.the(what, name)} reaches {a.keys['quality']} "
            f"{units.with_interval(units.value(q.mean, kind), units.interval(q.ci95, kind))}"
            f" over {v.n} seed(s); {a.keys['energy']} {units.energy(e.mean)}{_energy_label(v)}")
    return Finding(name, "baseline", text, BaselineData(q, e, v.n))


def _data(v: VariantResult, c: Comparison, effect: Effect, ref: str) -> ComparisonData:
    """The numbers a finding keeps beside its sentence (the findings table's JSON column)."""
    delta = c.quality_delta
    return ComparisonData(
        efficiency_score=c.efficiency_score, efficiency_score_ci95=c.efficiency_score_ci95, speedup=c.speedup,
        speedup_ci95=c.ratio_ci("time"), compression=c.compression, quality_delta=None if delta is None else delta.mean,
        quality_delta_ci95=None if delta is None else delta.ci95, cost_p_value=effect.p_value, n=v.n, params=v.params,
        reference=ref, objective=effect.objective, effect=effect.estimate, effect_ci95=effect.ci95,
        control_valid=c.control_valid, paired=c.paired)


def _test(effect: Effect, metric: str | None) -> str:
    """'p = 0.012 on latency_b1_ms; the design could detect 1.2x at 80 % power'."""
    tested = f" on {effect.tested_on}" if effect.tested_on not in (None, metric) else ""
    mde = ""
    if not effect.significant and effect.mde is not None:
        shown = units.ratio(effect.mde) if effect.is_ratio else \
            units.change(effect.mde, quantities.kind_of(effect.tested_on or metric)).lstrip("+")
        mde = f"; the design could detect {shown} at 80 % power"
    return f"{units.p_equals(effect.p_value)}{tested}{mde}"


def _variant(exp_id: int, a: Analysis, name: str, v: VariantResult, c: Comparison) -> Finding:
    delta = c.quality_delta
    effect = c.effect or Effect(objective=None, metric=None)
    ref = c.reference or v.reference or a.info.baseline
    data = _data(v, c, effect, ref)
    where = f"experiment {exp_id}, {v.n} seed(s), {'paired by seed' if c.paired else 'unpaired'}"
    qk = a.keys["quality"]
    quality = f"{qk} {quality_change(qk, *((delta.mean, delta.ci95, delta.reference_mean) if delta else (None,) * 3))}"
    objective = effect.objective or "energy"
    metric = effect.metric or a.keys.get("energy")
    claim = f"{objective} on {metric} {effect_text(effect)}"
    energy = f"; energy {MODELLED}" if v.energy_estimated else ""
    costs = (f"E = {units.ratio(c.efficiency_score)}, speedup {units.ratio(c.speedup)}, "
             f"compression {units.ratio(c.compression)}{energy}")
    if not c.control_valid:
        # a comparison whose objective is the quality names it once, not as its claim and again
        unproven = f"{claim} is" if metric == qk else f"{claim} and {quality} are"
        return Finding(name, "void", f"{name} vs {ref}: no comparison, the control is invalid ({c.control_note}); "
                       f"{unproven} not evidence ({where})", data)
    if v.diverged:
        return Finding(name, "diverged", f"{name} diverged in {v.diverged} of {v.n} seed(s) ({where}); {quality}", data)
    est = effect.estimate
    gain = isinstance(est, (int, float)) and (est > 1 + NO_EFFECT_BAND if effect.is_ratio else est > 0)
    loss = isinstance(est, (int, float)) and (est < 1 - NO_EFFECT_BAND if effect.is_ratio else est < 0)
    test = _test(effect, metric)
    kept = c.quality_kept
    if effect.exact:  # the same on every seed: a construction, not a measured effect
        return Finding(name, "exact", f"{name} has {claim} against {ref}: exact, fixed by construction, not a measured "
                       f"effect; {'quality kept (non-inferior)' if kept else 'quality not shown to be kept'}: {quality}; "
                       f"{costs} ({where})", data)
    if gain and (kept or objective == "quality"):
        verb = "improves" if effect.significant else "may improve (not significant)"
        kept_text = "keeping quality (non-inferior)" if kept else "without showing quality kept"
        return Finding(name, "effect" if effect.significant else "no_effect",
                       f"{name} {verb} {claim} against {ref} {kept_text}: {quality}; {costs} ({where}, {test})", data)
    if gain:
        return Finding(name, "tradeoff", f"{name} trades quality for {objective}: {quality} for {claim} against {ref}; "
                       f"{costs} ({where}, {test})", data)
    if loss:
        return Finding(name, "worse", f"{name} is worse than {ref} on {objective}: {claim}; {quality}; {costs} "
                       f"({where}, {test})", data)
    return Finding(name, "no_effect", f"{name} shows no measurable {objective} change against {ref}: {claim}; {quality}; "
                   f"{costs} ({where}, {test})", data)


def findings(exp_id: int, a: Analysis, runs: Sequence[Run]) -> list[Finding]:
    out: list[Finding] = []
    if (base := _baseline(exp_id, a)) is not None:
        out.append(base)
    for name, v in a.variants.items():
        if name == a.info.baseline:
            continue
        if a.info.is_reference_point(name):
            if v.n > 0:
                out.append(_reference_point(exp_id, a, name, v))
            continue
        if v.n > 0:  # one finding per reference: the distillation effect, and compression vs the teacher
            for comparison in (v.comparisons or {"": Comparison()}).values():
                out.append(_variant(exp_id, a, name, v, comparison))
        elif v.skipped:
            reason = next((r.error for r in runs if r.variant == name and r.error), "no reason given")
            out.append(Finding(name, "skipped", f"{name} was skipped in experiment {exp_id}: {reason}",
                               SkippedData(reason)))
    failed = [r for r in runs if r.status not in (RunState.SUCCEEDED, RunState.SKIPPED)]
    if failed:
        first = next((r.error for r in failed if r.error), "no error recorded")
        out.append(Finding(None, "failed", f"experiment {exp_id}: {len(failed)} of {len(runs)} run(s) did not "
                           f"succeed (runs {t.listing([str(r.id) for r in failed])}); first error: {first}",
                           FailedData([r.id for r in failed], first)))
    return out
