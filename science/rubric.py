"""The published rating rubric (docs/AGENTS.md), version 2: ten criteria of one point each, in
two groups. *Evidence* (5 points) says how far the experiment can be trusted: runs completed,
deliverables met, fair controls, enough paired seeds, measured (not modelled) evidence. *Effect*
(5 points) says what the headline variant achieved on its declared objective: significant after
correction, quality kept (non-inferiority), a clear and a large effect by the CI's lower bound
(for a cost objective, only at kept quality: a saving bought with quality is a trade-off), the
same direction on every seed. An invalid control, or a headline chosen on test data, voids
the effect: no effect point, and the evidence says why. The rating is the sum, at least 1.

Issue 22: claims no larger than the evidence.
- An *exact* effect (the same on every seed: a size, a parameter count, optimizer-state bytes,
  fixed by construction) is no evidence: it earns no significance, clear-effect, large-effect or
  same-direction point. The variant is judged on what is measured instead: quality kept
  (non-inferiority) and a measured cost (latency, else E where energy is measured), when it has one.
- A *preliminary* experiment (profile smoke, or fewer seeds than the rubric asks) is rated at most
  `PRELIMINARY_CAP`, never a breakthrough; `preliminary()` is the one rule (the roadmap, the
  steering, the tracker, the paper and the forms ask it).

Ratings of version 1 stay in their records as they were written (their criteria carry their own
labels and evidence) and are shown as such.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from contract import quantities as q
from contract import units
from science.analysis import (
    EXACT,
    MODELLED,
    OBJECTIVE_ROLE,
    RATIO_NAMES,
    Analysis,
    effect_text,
    fraction,
    higher_is_better,
)
from science.thresholds import (
    ALPHA,
    GAIN_RATIO,
    LARGE_QUALITY,
    LARGE_QUALITY_RELATIVE,
    LARGE_RATIO,
    LARGE_STABILITY,
    MIN_SEEDS,
    PRELIMINARY_CAP,
    QUALITY_MARGIN,
)

RUBRIC_VERSION = 2
EVIDENCE, EFFECT = "evidence", "effect"
SMOKE = "smoke"


# -- preliminary: the one rule -----------------------------------------------------------------

def preliminary_reason(profile: object, seeds: object) -> str | None:
    """Why an experiment at this profile and seed count can earn no finding (None: it can): the
    smoke profile (capped data, one or two epochs), or fewer seeds per variant than the rubric
    asks (MIN_SEEDS). Asked before a run (`lab run`, the new-experiment form, the steering) and
    by the validator after it."""
    reasons = []
    if profile == SMOKE:
        reasons.append("profile smoke (capped data, one or two epochs)")
    n = seeds if isinstance(seeds, int) and not isinstance(seeds, bool) else 0
    if n < MIN_SEEDS:
        reasons.append(f"{n} seed(s), fewer than the {MIN_SEEDS} the rubric asks for")
    return "; ".join(reasons) or None


def preliminary(exp: Mapping[str, Any]) -> bool:
    """A result that counts for nothing: the validator's own mark where the rating carries one,
    else the rule on the experiment's profile and seeds (records rated before issue 22)."""
    breakdown = exp.get("rating_breakdown") or {}
    for holder in (breakdown.get("headline") or {}, breakdown):
        if isinstance(holder.get("preliminary"), bool):
            return bool(holder["preliminary"])
    return preliminary_reason((exp.get("params") or {}).get("profile"), exp.get("seeds")) is not None


def preliminary_text(exp: Mapping[str, Any]) -> str | None:
    """'PRELIMINARY (profile smoke ...): not a finding, rated at most 6/10; its criteria earned 9',
    for a rated experiment that is preliminary; None for a finding. Every output says it so."""
    if not preliminary(exp):
        return None
    b = exp.get("rating_breakdown") or {}
    reason = b.get("preliminary_reason") or preliminary_reason((exp.get("params") or {}).get("profile"),
                                                               exp.get("seeds")) or "marked by the validator"
    points, rating = b.get("points"), b.get("rating", exp.get("rating"))
    earned = (f"; its criteria earned {points}" if isinstance(points, int) and isinstance(rating, (int, float))
              and points > rating else "")
    return f"PRELIMINARY ({reason}): not a finding, rated at most {PRELIMINARY_CAP}/10{earned}"


def preliminary_note(reason: str) -> str:
    """What a person is told before queueing a preliminary experiment."""
    return (f"preliminary: {reason}: it will be rated at most {PRELIMINARY_CAP}/10 and is no finding (not in the "
            f"tracker's bands or the paper's results); a finding needs profile default or full and {MIN_SEEDS}+ seeds")


@dataclass(frozen=True)
class Criterion:
    id: str
    group: str
    label: str
    rule: str  # what earns the point, as published


RUBRIC: tuple[Criterion, ...] = (
    Criterion("executed", EVIDENCE, "executed fully", "at least one run produced a result, and every run succeeded "
              "or was skipped with a reason (a device that cannot run it); none failed, timed out or was cancelled"),
    Criterion("deliverables", EVIDENCE, "deliverables met", "every applicable deliverable of the plan passed"),
    Criterion("controls", EVIDENCE, "valid controls", "every comparison's reference is a fair control: none of its "
              "seeds diverged, it received at least the variant's optimizer steps (budget_steps, 1 % tolerance), "
              "and its quality reaches the floor the entry declares"),
    Criterion("seeds", EVIDENCE, f"{MIN_SEEDS}+ paired seeds", f"every variant with results has at least {MIN_SEEDS} "
              "seeds, and the headline is compared with its reference paired by seed"),
    Criterion("measured", EVIDENCE, "measured evidence", "the headline's objective is measured, not modelled: "
              "energy only with hardware counters (RAPL, NVML; energy modelled from CPU time is not a second "
              "measurement beside time), and every result records its seed and library versions"),
    Criterion("significant", EFFECT, "significant after correction", f"the headline's effect on its objective is "
              f"in the good direction with p < {ALPHA} (paired t over seeds; Holm-corrected across the candidates "
              "when the headline was not declared; modelled energy is tested on time; an exact effect, the same "
              "on every seed by construction, is not tested: the point then judges a measured cost)"),
    Criterion("quality_kept", EFFECT, "quality kept (non-inferior)", "the 95 % CI of the headline's paired quality "
              "change stays within the entry's non-inferiority margin on the bad side: "
              f"{units.margin_rule(QUALITY_MARGIN)}, unless the entry declares its own"),
    Criterion("effect", EFFECT, "clear effect", f"the lower bound of the effect's 95 % CI clears no-effect: a cost "
              f"ratio (energy, latency, memory, size) above {GAIN_RATIO:g}, a quality gain or a drop of the divergence "
              "rate above 0"),
    Criterion("large_effect", EFFECT, "large effect", f"the lower bound of the effect's 95 % CI reaches a large "
              f"effect: a cost ratio of {LARGE_RATIO:g}, a quality gain of {units.margin(LARGE_QUALITY, q.Kind.FRACTION)} "
              f"of a fraction (accuracy) or {units.margin(LARGE_QUALITY_RELATIVE, q.Kind.PERPLEXITY)} for a perplexity "
              f"or a loss, a divergence rate {units.margin(LARGE_STABILITY, q.Kind.FRACTION)} lower"),
    Criterion("reproducible", EFFECT, "same direction on every seed", "the headline's paired effect points the "
              "good way on every seed (at least 2)"),
)

Check = Callable[[Analysis, list[dict[str, Any]]], tuple[bool, str]]
NO_HEADLINE = "no variant is compared with a reference"


def _executed(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    c = a.run_counts
    skipped = f", {c['skipped']} skipped with a reason" if c["skipped"] else ""
    failed = f", {c['failed']} failed, timed out or were cancelled" if c["failed"] else ""
    ok = c["succeeded"] > 0 and c["failed"] == 0
    return ok, f"{c['succeeded']} of {c['total']} runs succeeded with a result{skipped}{failed}"


def _deliverables(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    applicable = [d for d in deliverables if d.get("ok") is not None]
    failed = [d for d in applicable if not d["ok"]]
    if not applicable:
        return False, "no applicable deliverable to check"
    if failed:
        return False, f"{len(failed)} of {len(applicable)} failed: " + "; ".join(
            f"{d['kind']}: {d['detail']}" for d in failed[:3])
    return True, f"{len(applicable)} of {len(applicable)} deliverables met"


def _comparisons(a: Analysis) -> list[tuple[str, dict[str, Any]]]:
    return [(name, c) for name, v in a.variants.items() if v["n"] > 0
            for c in (v.get("comparisons") or {}).values()]


def _controls(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    comps = _comparisons(a)
    if not comps:
        return False, NO_HEADLINE
    invalid = [f"{name} vs {c['reference']}: {c['control_note']}" for name, c in comps if not c.get("control_valid")]
    if invalid:
        return False, f"{len(invalid)} of {len(comps)} comparison(s) void: " + "; ".join(invalid[:3])
    return True, f"all {len(comps)} comparison(s) have a valid control"


def _seeds(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    ns = {name: v["n"] for name, v in a.variants.items() if v["n"] > 0}
    if not ns:
        return False, "no variant has results"
    low = min(ns.values())
    few = [f"{k} ({n})" for n, k in ns.items() if k < MIN_SEEDS]
    if few:
        return False, f"{low} seed(s) for {', '.join(few[:4])}; {MIN_SEEDS} are needed"
    h = a.headline
    if h is not None and not h.get("paired"):
        return False, f"{h['variant']} and {h['reference']} share fewer than 2 seeds: compared unpaired"
    paired = f", {h['variant']} paired by seed with {h['reference']}" if h else ""
    return True, f"at least {low} seeds for each of {len(ns)} variant(s){paired}"


def _measured(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    with_provenance, results = a.provenance
    if results == 0:
        return False, "no result"
    if with_provenance < results:
        return False, f"{results - with_provenance} of {results} results lack their seed or library versions"
    h = a.headline
    modes = {v.get("energy_mode") for v in a.variants.values() if v.get("energy_mode")}
    if h is None or h.get("objective") in (None, "energy"):
        if not modes:
            return False, "no energy recorded"
        if modes != {"measured"}:
            return False, f"energy {MODELLED}, not measured by hardware counters (RAPL, NVML)"
        return True, "energy measured by hardware counters; seeds and versions recorded"
    return True, (f"the objective ({h['objective']}, {h.get('metric')}) is measured by the runs; seeds and "
                  "versions recorded")


def _void(a: Analysis) -> tuple[dict[str, Any] | None, str | None]:
    """The headline, or why it can earn no effect point."""
    h = a.headline
    if h is None:
        return None, NO_HEADLINE
    if not h.get("control_valid"):
        return None, f"void: {h['variant']} vs {h['reference']}: {h.get('control_note')}"
    if h.get("edge_of_grid"):  # a tuned setting chosen on its grid's edge (experiments/harness/grids.py)
        return None, f"edge of grid: {h['edge_of_grid']}: the optimum may lie outside the grid tried"
    if h.get("selection") == "test":
        return None, (f"void: {h['variant']} was chosen among {h.get('candidates')} candidates on test data "
                      "(no validation data, no declared headline)")
    return h, None


def _judged(a: Analysis) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """The headline, the effect the effect points judge, and a note. The objective's effect when
    it was measured; when it is exact (the same on every seed: fixed by construction), the measured
    cost the analysis names instead (`measured`: latency, else E), or no effect with the reason."""
    h, why = _void(a)
    if h is None:
        return None, None, str(why)
    e = h.get("effect_detail") or {}
    if e.get("effect_kind") != EXACT:
        return h, e, ""
    est = e.get("estimate")
    shown = units.ratio(est) if e.get("kind") == "ratio" else units.value(est, q.kind_of(str(e.get("metric") or "")))
    exact = f"{e.get('metric')} {shown} is exact (the same on every seed, by construction): not evidence"
    m = e.get("measured")
    if not isinstance(m, dict):
        return h, None, (f"{h['variant']}: {exact}, and no measured cost (latency, or E with measured energy) "
                         "to judge it on instead")
    if h.get("selection") != "declared" and isinstance(m.get("p_value"), (int, float)):
        m = {**m, "p_adjusted": min(1.0, m["p_value"] * int(h.get("candidates") or 1)), "adjustment": "Bonferroni"}
        m["significant"] = bool(m["significant"] and m["p_adjusted"] < ALPHA)
    return h, m, f"{exact}; judged on the measured {m.get('metric')}"


def _significant(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    h, e, judged = _judged(a)
    if h is None or e is None:
        return False, judged
    p, p_adj = e.get("p_value"), e.get("p_adjusted")
    if p is None:
        n = a.variants[h["variant"]]["n"]
        return False, f"{h['variant']}: {e.get('note') or 'the effect cannot be tested'} ({n} seed(s))"
    corrected = (f", {e.get('adjustment', 'Holm')}-adjusted p = {p_adj:.3g} over {h.get('candidates')} candidates"
                 if h.get("selection") != "declared" and p_adj is not None else " (declared headline)")
    tested = f" on {e.get('tested_on')}" if e.get("tested_on") != e.get("metric") else ""
    note = f"; {e['note']}" if e.get("note") and not judged else ""
    note += f"; {judged}" if judged else ""
    mde = ""
    if not e.get("significant") and e.get("mde") is not None:
        shown = units.ratio(e["mde"]) if e.get("kind") == "ratio" else \
            units.change(e["mde"], q.kind_of(str(e.get("tested_on") or ""))).lstrip("+")
        mde = f"; the design detects {shown} at 80 % power"
    objective = e.get("objective") if judged else h["objective"]
    return bool(e.get("significant")), (f"{h['variant']} vs {h['reference']} ({objective}){tested}: "
                                        f"p = {p:.3g}{corrected}{note}{mde}")


def _quality_kept(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    h, why = _void(a)
    if h is None:
        return False, str(why)
    v = a.variants[h["variant"]]
    delta = v.get("quality_delta") or {}
    qk = a.keys.get("quality", "quality")
    if delta.get("mean") is None:
        return False, f"{h['variant']}: no {qk} to compare"
    ci = delta.get("ci95")
    if not ci:
        said = units.change(delta["mean"], q.kind_of(qk), delta.get("reference_mean"))
        return False, (f"{h['variant']} changes {qk} by {said}; "
                       f"no CI ({delta.get('n', 0)} pair(s))")
    ex = delta.get("examples_ci95")
    ex_text = f", over test examples {units.change_interval(ex, q.kind_of(qk))}" if ex else ""
    ok = bool(v.get("quality_kept"))
    verdict = "kept" if ok else "not shown to be kept"
    kind = q.kind_of(qk)
    ref = delta.get("reference_mean")
    said = units.with_interval(units.change(delta["mean"], kind, ref), units.change_interval(ci, kind, ref) + ex_text)
    margin = units.margin(a.info.quality_margin if a.info.quality_margin is not None else QUALITY_MARGIN, kind)
    if not higher_is_better(qk):  # perplexity, loss: lower is better, the upper bound against the margin
        return ok, f"{h['variant']} changes {qk} by {said}: {verdict} (upper bound vs +{margin})"
    return ok, f"{h['variant']} changes {qk} by {said}: {verdict} (lower bound vs -{margin})"


def _threshold(e: dict[str, Any], large: bool, reference_mean: float | None = None) -> float:
    if e.get("kind") == "ratio":
        return LARGE_RATIO if large else GAIN_RATIO
    if e.get("objective") == "stability":
        return LARGE_STABILITY if large else 0.0
    if not large:
        return 0.0
    if not fraction(str(e.get("metric") or "")):
        # an unbounded quality (perplexity) changes in its own units: large is a share of the reference
        return LARGE_QUALITY_RELATIVE * abs(reference_mean) if reference_mean else float("inf")
    return LARGE_QUALITY


def _effect_size(large: bool) -> Check:
    def check(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
        h, e, judged = _judged(a)
        if h is None or e is None:
            return False, judged
        ci, est = e.get("ci95"), e.get("estimate")
        ref = a.variants.get(str(h.get("reference"))) or {}
        bar = _threshold(e, large, ((ref.get("quality") or {}).get("mean")))
        if est is None:
            return False, f"{h['variant']}: {e.get('note') or 'no effect measured'}"
        shown = effect_text(e) + ("" if ci else " (no CI)")
        kind = q.kind_of(str(e.get("metric") or ""))
        if e.get("kind") == "ratio":
            need = units.ratio(bar)
        elif not fraction(str(e.get("metric") or "")) and e.get("objective") != "stability":
            need = (f"an improvement of {units.change(bar, kind)} ({LARGE_QUALITY_RELATIVE:.0%} of the reference)"
                    if large else "no improvement")
        else:
            need = units.change(bar, kind)
        low = ci[0] if ci else None
        tested = e.get("tested_ci95")
        note = f"; {e['note']}" if e.get("note") and not judged else ""
        note += f"; {judged}" if judged else ""
        if low is not None and tested and tested[0] is not None and tested[0] < low:
            low = tested[0]  # modelled energy: the time ratio's bound carries the evidence
            note += f" (lower bound {units.ratio(low)} of {e.get('tested_on')})"
        ok = low is not None and (low >= bar if large else low > bar)
        # a cost objective (its role a ratio: energy, time, memory, size) is claimed at kept quality
        cost = OBJECTIVE_ROLE.get(str(h.get("objective"))) in RATIO_NAMES or bool(judged)
        traded = cost and not a.variants[h["variant"]].get("quality_kept")
        if ok and traded:  # a saving bought with quality is a trade-off, not the claimed gain
            ok = False
            note += "; quality is not shown to be kept, so the saving is a trade-off, not an efficiency gain"
        label = "ratio" if e.get("kind") == "ratio" else "change"
        bound = units.MISSING if low is None else (units.ratio(low) if e.get("kind") == "ratio" else units.change(low, kind)
                                           if fraction(str(e.get("metric") or "")) else
                                           f"an improvement of {units.change(low, kind)}")
        verb = ("reaches" if ok else "misses") if large else ("clears" if ok else "does not clear")
        return ok, (f"{h['variant']}: {e.get('objective')} {label} on {e.get('metric')} {shown}: lower bound {bound} "
                    f"{verb} {need}{note}")
    return check


def _reproducible(a: Analysis, deliverables: list[dict[str, Any]]) -> tuple[bool, str]:
    h, e, judged = _judged(a)
    if h is None or e is None:
        return False, judged
    consistent = e.get("consistent")
    after = f" ({judged})" if judged else ""
    if consistent is None:
        return False, f"{h['variant']}: fewer than 2 paired seeds with {e.get('tested_on') or e.get('metric')}{after}"
    n = a.variants[h["variant"]].get("n_pairs") or a.variants[h["variant"]]["n"]
    return bool(consistent), (f"{h['variant']}: the paired effect on {e.get('tested_on') or e.get('metric')} points the "
                              f"good way on {'every' if consistent else 'not every'} one of {n} seeds{after}")


CHECKS: dict[str, Check] = {
    "executed": _executed, "deliverables": _deliverables, "controls": _controls, "seeds": _seeds,
    "measured": _measured, "significant": _significant, "quality_kept": _quality_kept,
    "effect": _effect_size(False), "large_effect": _effect_size(True), "reproducible": _reproducible,
}


def rate(analysis: Analysis, deliverables: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """The rating 1-10 and its criteria, each with the evidence that earned (or missed) its point;
    a preliminary experiment (`preliminary_reason`) is capped at PRELIMINARY_CAP."""
    criteria: list[dict[str, Any]] = []
    for c in RUBRIC:
        ok, evidence = CHECKS[c.id](analysis, deliverables)
        criteria.append({"id": c.id, "group": c.group, "label": c.label, "points": int(ok), "max": 1,
                         "evidence": evidence})
    earned = max(1, sum(c["points"] for c in criteria))
    if preliminary_reason(analysis.info.profile, analysis.seeds) is not None:
        return min(earned, PRELIMINARY_CAP), criteria
    return earned, criteria


@dataclass(frozen=True)
class Marks:
    """What the rating says about the experiment beyond its points (issue 22): preliminary or a
    finding, and whether the headline's effect was measured or is exact."""

    rating: int
    points: int                       # the criteria's sum before the cap
    preliminary: bool
    preliminary_reason: str | None
    effect_kind: str                  # "measured" or "exact"
    ci_method: str | None

    def marks(self) -> dict[str, Any]:
        """The fields the validator adds to the breakdown and its headline."""
        return {"preliminary": self.preliminary, "preliminary_reason": self.preliminary_reason,
                "effect_kind": self.effect_kind, "ci_method": self.ci_method}

    @property
    def capped(self) -> bool:
        return self.rating < self.points


def marks_of(analysis: Analysis, rating: int, criteria: list[dict[str, Any]]) -> Marks:
    reason = preliminary_reason(analysis.info.profile, analysis.seeds)
    h = analysis.headline or {}
    return Marks(rating, max(1, sum(c["points"] for c in criteria)), reason is not None, reason,
                    str(h.get("effect_kind") or "measured"), h.get("ci_method"))
