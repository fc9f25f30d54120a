"""Findings: what one experiment showed, one sentence per variant, written from its numbers.

They are the knowledge base the researcher reads (table `findings`) and the `findings` list of
the rating breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract import quantities, units
from db import RunState
from science import text as t
from science.analysis import EXACT, MODELLED, Analysis, effect_text, quality_change

NO_EFFECT_BAND = 0.1  # a cost ratio within 10 % of 1: no measurable effect


@dataclass
class Finding:
    variant: str | None
    kind: str  # baseline, effect, tradeoff, no_effect, worse, void, skipped, diverged, failed
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def row(self) -> tuple[str | None, str, str, dict[str, Any]]:
        return (self.variant, self.kind, self.text, self.data)


def _energy_label(v: dict[str, Any]) -> str:
    """How the energy was obtained: hardware counters, or a model of CPU time (old records say
    'estimated')."""
    return f" ({MODELLED})" if v.get("energy_estimated") else " (measured)" if v.get("energy_mode") == "measured" else ""


def _baseline(exp_id: int, a: Analysis) -> Finding | None:
    base = a.baseline
    if base is None or base["n"] == 0:
        return None
    return _reference_point(exp_id, a, a.info.baseline, base, "baseline")


def _reference_point(exp_id: int, a: Analysis, name: str, v: dict[str, Any], what: str = "reference") -> Finding:
    """The baseline, or a control of its own (e.g. the FP32 transformer beside the FP32 MLP baseline)."""
    q, e = v["quality"], v["energy"]
    kind = quantities.kind_of(a.keys["quality"])
    text = (f"experiment {exp_id}: {t.the(what, name)} reaches {a.keys['quality']} "
            f"{units.with_interval(units.value(q['mean'], kind), units.interval(q['ci95'], kind))}"
            f" over {v['n']} seed(s); {a.keys['energy']} {units.energy(e['mean'])}{_energy_label(v)}")
    return Finding(name, "baseline", text, {"quality": q, "energy": e, "n": v["n"]})


def _variant(exp_id: int, a: Analysis, name: str, v: dict[str, Any]) -> Finding:
    delta = v.get("quality_delta") or {}
    effect = v.get("effect") or {}
    e, sp, comp = v.get("efficiency_score"), v.get("speedup"), v.get("compression")
    ref = v.get("reference") or a.info.baseline
    data = {"efficiency_score": e, "efficiency_score_ci95": v.get("efficiency_score_ci95"), "speedup": sp,
            "speedup_ci95": v.get("speedup_ci95"), "compression": comp, "quality_delta": delta.get("mean"),
            "quality_delta_ci95": delta.get("ci95"), "cost_p_value": effect.get("p_value"), "n": v["n"],
            "params": v.get("params", {}), "reference": ref, "objective": effect.get("objective"),
            "effect": effect.get("estimate"), "effect_ci95": effect.get("ci95"), "control_valid": v.get("control_valid"),
            "paired": v.get("paired")}
    pairing = "paired by seed" if v.get("paired") else "unpaired"
    where = f"experiment {exp_id}, {v['n']} seed(s), {pairing}"
    qk = a.keys["quality"]
    quality = f"{qk} {quality_change(qk, delta.get('mean'), delta.get('ci95'), delta.get('reference_mean'))}"
    objective = effect.get("objective", "energy")
    metric = effect.get("metric") or a.keys.get("energy")
    size = effect_text(effect)
    claim = f"{objective} on {metric} {size}"
    energy = f"; energy {MODELLED}" if v.get("energy_estimated") else ""
    costs = (f"E = {units.ratio(e)}, speedup {units.ratio(sp)}, compression {units.ratio(comp)}"
             f"{energy}")
    if not v.get("control_valid"):
        return Finding(name, "void", f"{name} vs {ref}: no comparison, the control is invalid ({v.get('control_note')}); "
                       f"{claim} and {quality} are not evidence ({where})", data)
    if v["diverged"]:
        return Finding(name, "diverged", f"{name} diverged in {v['diverged']} of {v['n']} seed(s) ({where}); "
                       f"{quality}", data)
    p = effect.get("p_value")
    significant = bool(effect.get("significant"))
    est = effect.get("estimate")
    kind_ratio = effect.get("kind") == "ratio"
    gain = isinstance(est, (int, float)) and (est > 1 + NO_EFFECT_BAND if kind_ratio else est > 0)
    loss = isinstance(est, (int, float)) and (est < 1 - NO_EFFECT_BAND if kind_ratio else est < 0)
    tested = f" on {effect['tested_on']}" if effect.get("tested_on") not in (None, metric) else ""
    mde = ""
    if not significant and effect.get("mde") is not None:
        shown = units.ratio(effect["mde"]) if kind_ratio else \
            units.change(effect["mde"], quantities.kind_of(effect.get("tested_on") or metric)).lstrip("+")
        mde = f"; the design could detect {shown} at 80 % power"
    shown_p = units.pvalue(p)
    test = f"p {shown_p if shown_p.startswith('<') else '= ' + shown_p}{tested}{mde}"
    kept = v.get("quality_kept")
    kept_text = "keeping quality (non-inferior)" if kept else "without showing quality kept"
    if effect.get("effect_kind") == EXACT:  # the same on every seed: a construction, not a measured effect
        kind = "exact"
        text = (f"{name} has {claim} against {ref}: exact, fixed by construction, not a measured effect; "
                f"{'quality kept (non-inferior)' if kept else 'quality not shown to be kept'}: {quality}; {costs} "
                f"({where})")
    elif gain and (kept or objective == "quality"):
        kind = "effect" if significant else "no_effect"
        verb = "improves" if significant else "may improve (not significant)"
        text = f"{name} {verb} {claim} against {ref} {kept_text}: {quality}; {costs} ({where}, {test})"
    elif gain:
        kind = "tradeoff"
        text = f"{name} trades quality for {objective}: {quality} for {claim} against {ref}; {costs} ({where}, {test})"
    elif loss:
        kind = "worse"
        text = f"{name} is worse than {ref} on {objective}: {claim}; {quality}; {costs} ({where}, {test})"
    else:
        kind = "no_effect"
        text = f"{name} shows no measurable {objective} change against {ref}: {claim}; {quality}; {costs} ({where}, {test})"
    return Finding(name, kind, text, data)


def findings(exp_id: int, a: Analysis, runs: list[dict[str, Any]]) -> list[Finding]:
    out: list[Finding] = []
    if (base := _baseline(exp_id, a)) is not None:
        out.append(base)
    for name, v in a.variants.items():
        if name == a.info.baseline:
            continue
        if a.info.is_reference_point(name):
            if v["n"] > 0:
                out.append(_reference_point(exp_id, a, name, v))
            continue
        if v["n"] > 0:  # one finding per reference: the distillation effect, and compression vs the teacher
            for comparison in (v.get("comparisons") or {"": {}}).values():
                out.append(_variant(exp_id, a, name, {**v, **comparison}))
        elif v["skipped"]:
            reason = next((r["error"] for r in runs if r["variant"] == name and r["error"]), "no reason given")
            out.append(Finding(name, "skipped", f"{name} was skipped in experiment {exp_id}: {reason}",
                               {"reason": reason}))
    failed = [r for r in runs if r["status"] not in (RunState.SUCCEEDED, RunState.SKIPPED)]
    if failed:
        first = next((r["error"] for r in failed if r["error"]), "no error recorded")
        out.append(Finding(None, "failed", f"experiment {exp_id}: {len(failed)} of {len(runs)} run(s) did not "
                           f"succeed (runs {t.listing([str(r['id']) for r in failed])}); first error: {first}",
                           {"runs": [r["id"] for r in failed], "error": first}))
    return out
