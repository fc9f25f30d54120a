"""Findings: what one experiment showed, one sentence per variant, written from its numbers.

They are the knowledge base the researcher reads (table `findings`) and the `findings` list of
the rating breakdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents import text as t
from agents.analysis import Analysis
from agents.thresholds import ALPHA

NO_EFFECT_BAND = 0.1  # E within 10 % of 1 and no significant cost change: no measurable effect


@dataclass
class Finding:
    variant: str | None
    kind: str  # baseline, effect, tradeoff, no_effect, worse, skipped, diverged, failed
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def row(self) -> tuple[str | None, str, str, dict[str, Any]]:
        return (self.variant, self.kind, self.text, self.data)


def _baseline(exp_id: int, a: Analysis) -> Finding | None:
    base = a.baseline
    if base is None or base["n"] == 0:
        return None
    q, e = base["quality"], base["energy"]
    estimated = " (estimated)" if base["energy_estimated"] else ""
    text = (f"experiment {exp_id}: baseline {a.info.baseline} reaches {a.info.keys['quality']} "
            f"{t.percent(q['mean'])} (95 % CI {t.ci_percent(q['ci95'])}) over {base['n']} seed(s); "
            f"{a.info.keys['energy']} {t.energy(e['mean'])}{estimated}")
    return Finding(a.info.baseline, "baseline", text, {"quality": q, "energy": e, "n": base["n"]})


def _reference_point(exp_id: int, a: Analysis, name: str, v: dict[str, Any]) -> Finding:
    """A control of its own (e.g. the FP32 transformer beside the FP32 MLP baseline)."""
    q, e = v["quality"], v["energy"]
    estimated = " (estimated)" if v["energy_estimated"] else ""
    text = (f"experiment {exp_id}: reference {name} reaches {a.info.keys['quality']} "
            f"{t.percent(q['mean'])} (95 % CI {t.ci_percent(q['ci95'])}) over {v['n']} seed(s); "
            f"{a.info.keys['energy']} {t.energy(e['mean'])}{estimated}")
    return Finding(name, "baseline", text, {"quality": q, "energy": e, "n": v["n"]})


def _variant(exp_id: int, a: Analysis, name: str, v: dict[str, Any]) -> Finding:
    delta = v.get("quality_delta") or {}
    e, sp, comp = v.get("efficiency_score"), v.get("speedup"), v.get("compression")
    p_cost = v.get("energy_p_value") if v.get("energy_p_value") is not None else v.get("time_p_value")
    data = {"efficiency_score": e, "speedup": sp, "compression": comp, "quality_delta": delta.get("mean"),
            "quality_delta_ci95": delta.get("ci95"), "cost_p_value": p_cost, "n": v["n"],
            "params": v.get("params", {})}
    costs = f"E = {t.num(e)}, speedup {t.times(sp)}, compression {t.times(comp)}"
    quality = (f"{t.points(delta.get('mean'))} points of {a.info.keys['quality']} "
               f"(95 % CI {t.ci_points(delta.get('ci95'))})")
    where = f"experiment {exp_id}, {v['n']} seed(s)"
    if v["diverged"]:
        return Finding(name, "diverged", f"{name} diverged in {v['diverged']} of {v['n']} seed(s) ({where}); "
                       f"{quality}", data)
    gain = isinstance(e, (int, float)) and e > 1 + NO_EFFECT_BAND
    loss = isinstance(e, (int, float)) and e < 1 - NO_EFFECT_BAND
    significant = p_cost is not None and p_cost < ALPHA
    if v.get("quality_kept") and gain:
        kind = "effect" if significant else "no_effect"
        claim = "gains" if significant else "may gain (not significant yet)"
        text = f"{name} {claim} {costs} while keeping quality: {quality} ({where}, cost p = {t.pvalue(p_cost)})"
    elif gain:
        kind = "tradeoff"
        text = f"{name} trades quality for efficiency: {quality} for {costs} ({where})"
    elif loss:
        kind = "worse"
        text = f"{name} costs more than {v.get('reference') or a.info.baseline}: {costs}; {quality} ({where})"
    else:
        kind = "no_effect"
        text = f"{name} shows no measurable efficiency change: {costs}; {quality} ({where})"
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
        if v["n"] > 0:
            out.append(_variant(exp_id, a, name, v))
        elif v["skipped"]:
            reason = next((r["error"] for r in runs if r["variant"] == name and r["error"]), "no reason given")
            out.append(Finding(name, "skipped", f"{name} was skipped in experiment {exp_id}: {reason}",
                               {"reason": reason}))
    failed = [r for r in runs if r["status"] not in ("succeeded", "skipped")]
    if failed:
        first = next((r["error"] for r in failed if r["error"]), "no error recorded")
        out.append(Finding(None, "failed", f"experiment {exp_id}: {len(failed)} of {len(runs)} run(s) did not "
                           f"succeed (runs {t.listing([str(r['id']) for r in failed])}); first error: {first}",
                           {"runs": [r["id"] for r in failed], "error": first}))
    return out
