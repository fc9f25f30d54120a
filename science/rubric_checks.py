"""The rubric's ten checks (science/rubric.py publishes the criteria and sums the points): each
reads the analysis and says whether its point is earned, with the evidence. Evidence: runs
completed, deliverables met, fair controls, enough paired seeds, measured evidence. Effect (void
without a valid control, on a grid's edge, or chosen on test data; an exact effect is judged on
a measured cost instead): significant after correction, quality kept, a clear and a large
effect, the same direction on every seed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from contract import quantities as q
from contract import units
from contract.comparison import MODELLED, OBJECTIVE_ROLE, RATIO_NAMES, Comparison, Effect
from contract.deliverable import CheckedDeliverable
from contract.rating_record import Headline
from science.analysis import Analysis
from science.experiment_info import fraction, higher_is_better
from science.headline import effect_text
from science.thresholds import (
    ALPHA,
    GAIN_RATIO,
    LARGE_QUALITY,
    LARGE_QUALITY_RELATIVE,
    LARGE_RATIO,
    LARGE_STABILITY,
    MIN_SEEDS,
    QUALITY_MARGIN,
)

NO_HEADLINE = "no variant is compared with a reference"


@dataclass(frozen=True)
class Delivered:
    """The deliverables' checks as the rubric reads them: how many applied (passed or failed), and
    each failed one's kind and detail."""

    applicable: int = 0
    failed: tuple[str, ...] = ()  # "kind: detail"

    @classmethod
    def of(cls, checked: Iterable[CheckedDeliverable]) -> Delivered:
        """From the checks as science/deliverables.check_all gives them (`ok`: True, False, None)."""
        applicable = [d for d in checked if d.ok is not None]
        return cls(len(applicable), tuple(f"{d.deliverable.kind}: {d.detail}" for d in applicable if not d.ok))


Check = Callable[[Analysis, Delivered], tuple[bool, str]]


def _executed(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
    c = a.run_counts
    skipped = f", {c.skipped} skipped with a reason" if c.skipped else ""
    failed = f", {c.failed} failed, timed out or were cancelled" if c.failed else ""
    ok = c.succeeded > 0 and c.failed == 0
    return ok, f"{c.succeeded} of {c.total} runs succeeded with a result{skipped}{failed}"


def _deliverables(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
    applicable, failed = deliverables.applicable, deliverables.failed
    if not applicable:
        return False, "no applicable deliverable to check"
    if failed:
        return False, f"{len(failed)} of {applicable} failed: " + "; ".join(failed[:3])
    return True, f"{applicable} of {applicable} deliverables met"


def _comparisons(a: Analysis) -> list[tuple[str, Comparison]]:
    return [(name, c) for name, v in a.variants.items() if v.n > 0
            for c in (v.comparisons or {}).values()]


def _controls(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
    comps = _comparisons(a)
    if not comps:
        return False, NO_HEADLINE
    invalid = [f"{name} vs {c.reference}: {c.control_note}" for name, c in comps if not c.control_valid]
    if invalid:
        return False, f"{len(invalid)} of {len(comps)} comparison(s) void: " + "; ".join(invalid[:3])
    return True, f"all {len(comps)} comparison(s) have a valid control"


def _seeds(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
    ns = {name: v.n for name, v in a.variants.items() if v.n > 0}
    if not ns:
        return False, "no variant has results"
    low = min(ns.values())
    few = [f"{k} ({n})" for n, k in ns.items() if k < MIN_SEEDS]
    if few:
        return False, f"{low} seed(s) for {', '.join(few[:4])}; {MIN_SEEDS} are needed"
    h = a.headline
    if h is not None and not h.paired:
        return False, f"{h.variant} and {h.reference} share fewer than 2 seeds: compared unpaired"
    paired = f", {h.variant} paired by seed with {h.reference}" if h else ""
    return True, f"at least {low} seeds for each of {len(ns)} variant(s){paired}"


def _measured(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
    with_provenance, results = a.provenance
    if results == 0:
        return False, "no result"
    if with_provenance < results:
        return False, f"{results - with_provenance} of {results} results lack their seed or library versions"
    h = a.headline
    modes = {v.energy_mode for v in a.variants.values() if v.energy_mode}
    if h is None or h.objective in (None, "energy"):
        if not modes:
            return False, "no energy recorded"
        if modes != {"measured"}:
            return False, f"energy {MODELLED}, not measured by hardware counters (RAPL, NVML)"
        return True, "energy measured by hardware counters; seeds and versions recorded"
    return True, (f"the objective ({h.objective}, {h.metric}) is measured by the runs; seeds and "
                  "versions recorded")


def _void(a: Analysis) -> tuple[Headline | None, str | None]:
    """The headline, or why it can earn no effect point."""
    h = a.headline
    if h is None:
        return None, NO_HEADLINE
    if not h.control_valid:
        return None, f"void: {h.variant} vs {h.reference}: {h.control_note}"
    if h.edge_of_grid:  # a tuned setting chosen on its grid's edge (experiments/harness/grids.py)
        return None, f"edge of grid: {h.edge_of_grid}: the optimum may lie outside the grid tried"
    if h.selection == "test":
        return None, (f"void: {h.variant} was chosen among {h.candidates} candidates on test data "
                      "(no validation data, no declared headline)")
    return h, None


def _judged(a: Analysis) -> tuple[Headline | None, Effect | None, str]:
    """The headline, the effect the effect points judge, and a note. The objective's effect when
    it was measured; when it is exact (the same on every seed: fixed by construction), the measured
    cost the analysis names instead (`measured`: latency, else E), or no effect with the reason."""
    h, why = _void(a)
    if h is None:
        return None, None, str(why)
    e = h.effect_detail or Effect()
    if not e.exact:
        return h, e, ""
    est = e.estimate
    shown = units.ratio(est) if e.is_ratio else units.value(est, q.kind_of(str(e.metric or "")))
    exact = f"{e.metric} {shown} is exact (the same on every seed, by construction): not evidence"
    m = e.measured
    if m is None:
        return h, None, (f"{h.variant}: {exact}, and no measured cost (latency, or E with measured energy) "
                         "to judge it on instead")
    if h.selection != "declared" and isinstance(m.p_value, (int, float)):
        p_adjusted = min(1.0, m.p_value * int(h.candidates or 1))
        m = replace(m, p_adjusted=p_adjusted, adjustment="Bonferroni", significant=bool(m.significant and p_adjusted < ALPHA))
    return h, m, f"{exact}; judged on the measured {m.metric}"


def _significant(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
    h, e, judged = _judged(a)
    if h is None or e is None:
        return False, judged
    p, p_adj = e.p_value, e.p_adjusted
    if p is None:
        n = a.variants[h.variant].n
        return False, f"{h.variant}: {e.note or 'the effect cannot be tested'} ({n} seed(s))"
    corrected = (f", {e.adjustment or 'Holm'}-adjusted {units.p_equals(p_adj)} over {h.candidates} candidates"
                 if h.selection != "declared" and p_adj is not None else " (declared headline)")
    tested = f" on {e.tested_on}" if e.tested_on != e.metric else ""
    note = f"; {e.note}" if e.note and not judged else ""
    note += f"; {judged}" if judged else ""
    mde = ""
    if not e.significant and e.mde is not None:
        shown = units.ratio(e.mde) if e.is_ratio else units.change(e.mde, q.kind_of(str(e.tested_on or ""))).lstrip("+")
        mde = f"; the design detects {shown} at 80 % power"
    objective = e.objective if judged else h.objective
    return bool(e.significant), f"{h.variant} vs {h.reference} ({objective}){tested}: {units.p_equals(p)}{corrected}{note}{mde}"


def _quality_kept(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
    h, why = _void(a)
    if h is None:
        return False, str(why)
    c = a.variants[h.variant].compared
    delta = c.quality_delta
    qk = a.keys.get("quality", "quality")
    if delta is None or delta.mean is None:
        return False, f"{h.variant}: no {qk} to compare"
    ci = delta.ci95
    kind = q.kind_of(qk)
    ref = delta.reference_mean
    if not ci:
        return False, f"{h.variant} changes {qk} by {units.change(delta.mean, kind, ref)}; no CI ({delta.n} pair(s))"
    ex = delta.examples_ci95
    ex_text = f", over test examples {units.change_interval(ex, kind)}" if ex else ""
    ok = bool(c.quality_kept)
    verdict = "kept" if ok else "not shown to be kept"
    said = units.with_interval(units.change(delta.mean, kind, ref), units.change_interval(ci, kind, ref) + ex_text)
    margin = units.margin(a.info.quality_margin if a.info.quality_margin is not None else QUALITY_MARGIN, kind)
    if not higher_is_better(qk):  # perplexity, loss: lower is better, the upper bound against the margin
        return ok, f"{h.variant} changes {qk} by {said}: {verdict} (upper bound vs +{margin})"
    return ok, f"{h.variant} changes {qk} by {said}: {verdict} (lower bound vs -{margin})"


def _threshold(e: Effect, large: bool, reference_mean: float | None = None) -> float:
    if e.is_ratio:
        return LARGE_RATIO if large else GAIN_RATIO
    if e.objective == "stability":
        return LARGE_STABILITY if large else 0.0
    if not large:
        return 0.0
    if not fraction(str(e.metric or "")):
        # an unbounded quality (perplexity) changes in its own units: large is a share of the reference
        return LARGE_QUALITY_RELATIVE * abs(reference_mean) if reference_mean else float("inf")
    return LARGE_QUALITY


def _needed(e: Effect, large: bool, bar: float) -> str:
    """What the lower bound must reach, in the effect's words."""
    kind = q.kind_of(str(e.metric or ""))
    if e.is_ratio:
        return units.ratio(bar)
    if not fraction(str(e.metric or "")) and e.objective != "stability":
        return (f"an improvement of {units.change(bar, kind)} ({LARGE_QUALITY_RELATIVE:.0%} of the reference)"
                if large else "no improvement")
    return units.change(bar, kind)


def _bound_text(e: Effect, low: float | None) -> str:
    kind = q.kind_of(str(e.metric or ""))
    if low is None:
        return units.MISSING
    if e.is_ratio:
        return units.ratio(low)
    return units.change(low, kind) if fraction(str(e.metric or "")) else f"an improvement of {units.change(low, kind)}"


def _effect_size(large: bool) -> Check:
    def check(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
        h, e, judged = _judged(a)
        if h is None or e is None:
            return False, judged
        ci, est = e.ci95, e.estimate
        ref = a.variants.get(str(h.reference))
        bar = _threshold(e, large, ref.quality.mean if ref is not None else None)
        if est is None:
            return False, f"{h.variant}: {e.note or 'no effect measured'}"
        shown = effect_text(e) + ("" if ci else " (no CI)")
        low = ci[0] if ci else None
        tested = e.tested_ci95
        note = f"; {e.note}" if e.note and not judged else ""
        note += f"; {judged}" if judged else ""
        if low is not None and tested and tested[0] is not None and tested[0] < low:
            low = tested[0]  # modelled energy: the time ratio's bound carries the evidence
            note += f" (lower bound {units.ratio(low)} of {e.tested_on})"
        ok = low is not None and (low >= bar if large else low > bar)
        # a cost objective (its role a ratio: energy, time, memory, size) is claimed at kept quality
        cost = OBJECTIVE_ROLE.get(str(h.objective)) in RATIO_NAMES or bool(judged)
        if ok and cost and not a.variants[h.variant].compared.quality_kept:
            ok = False  # a saving bought with quality is a trade-off, not the claimed gain
            note += "; quality is not shown to be kept, so the saving is a trade-off, not an efficiency gain"
        label = "ratio" if e.is_ratio else "change"
        verb = ("reaches" if ok else "misses") if large else ("clears" if ok else "does not clear")
        return ok, (f"{h.variant}: {e.objective} {label} on {e.metric} {shown}: lower bound {_bound_text(e, low)} "
                    f"{verb} {_needed(e, large, bar)}{note}")
    return check


def _reproducible(a: Analysis, deliverables: Delivered) -> tuple[bool, str]:
    h, e, judged = _judged(a)
    if h is None or e is None:
        return False, judged
    consistent = e.consistent
    after = f" ({judged})" if judged else ""
    on = e.tested_on or e.metric
    if consistent is None:
        return False, f"{h.variant}: fewer than 2 paired seeds with {on}{after}"
    v = a.variants[h.variant]
    n = v.compared.n_pairs or v.n
    return bool(consistent), (f"{h.variant}: the paired effect on {on} points the "
                              f"good way on {'every' if consistent else 'not every'} one of {n} seeds{after}")


CHECKS: dict[str, Check] = {
    "executed": _executed, "deliverables": _deliverables, "controls": _controls, "seeds": _seeds,
    "measured": _measured, "significant": _significant, "quality_kept": _quality_kept,
    "effect": _effect_size(False), "large_effect": _effect_size(True), "reproducible": _reproducible,
}
