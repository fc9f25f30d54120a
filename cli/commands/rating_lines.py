"""`lab rating N` in text: the headline and why it earns no effect point where it earns none, the
rubric's lines, every variant against its reference with the validator's own intervals, the
deliverables, findings and follow-ups, each number read from the typed rating
(contract/rating_record.Breakdown) and written by contract.units."""

from __future__ import annotations

from contract import quantities, units
from contract.comparison import EXACT, Pair
from contract.rating_record import Breakdown
from science.headline import headline_text, void_reason


def _ratio_ci(value: float | None, ci: Pair | None) -> str:
    text = units.ratio(value)
    return text if text == units.MISSING or not ci else f"{text} [{units.ratio_interval(ci)}]"


def variant_rows(b: Breakdown) -> list[list[str]]:
    """Every variant's quality (in its kind's unit), its change against its reference (points
    for a fraction, the unit and % of the reference for a perplexity or a loss), p, the ratios
    with their CIs and the energy, each number as the validator stored it."""
    kind = quantities.kind_of(b.quality_key)
    rows = []
    for name, v in b.variants.items():
        q, c = v.quality, v.compared
        d = c.quality_delta
        modelled = "modelled from CPU time" if v.energy_estimated else (
            "measured" if v.energy_estimated is False else units.MISSING)
        ref = v.reference
        control = units.MISSING if ref is None or c.control_valid is None else ("valid" if c.control_valid else "INVALID")
        ref_mean = d.reference_mean if d else None
        if ref_mean is None and ref and (reference := b.variants.get(ref)) is not None:
            ref_mean = reference.quality.mean
        change = units.change(d.mean if d else None, kind, ref_mean)
        if change != units.MISSING and d and d.ci95:
            change += f" [{units.change_interval(d.ci95, kind, ref_mean)}]"
        rows.append([name + (" *" if v.baseline else ""), str(v.n), ref or units.MISSING,
                     units.value(q.mean, kind) + (f" [{units.interval(q.ci95, kind)}]" if q.ci95 else ""),
                     change, units.num(c.p_value, 3),
                     f"void ({void_reason(c.control_note)})" if v.comparisons and c.control_valid is False
                     else _ratio_ci(c.efficiency_score, c.efficiency_score_ci95),
                     _ratio_ci(c.speedup, c.ratio_ci("time")), _ratio_ci(c.compression, c.ratio_ci("size")),
                     units.value(v.summary("energy").mean, quantities.Kind.ENERGY), modelled, control])
    return rows


def headline_lines(b: Breakdown) -> list[str]:
    """The headline, and why it earns no effect point where it earns none."""
    h = b.headline
    out = ["headline: " + headline_text(h, b.keys["quality"])]
    if h and h.effect_kind == EXACT:
        measured = h.effect_detail.measured if h.effect_detail is not None else None
        instead = measured.metric if measured is not None else None
        out.append(f"  {h.metric} is exact (the same on every seed, by construction): not evidence, no effect "
                   "point on it; " + (f"the effect points judge the measured {instead}" if instead else
                                      "no measured cost to judge instead"))
    if h and h.control_valid is False:
        out.append(f"  comparison void: {h.control_note}; no effect point is given")
    if h and h.edge_of_grid:
        out.append(f"  edge of grid: {h.edge_of_grid}; no effect point is given")
    return out


def criteria_lines(b: Breakdown) -> list[str]:
    out, group = [], None
    for c in b.criteria:
        if c.group and c.group != group:
            group = c.group
            out.append(f" {group}:")
        out.append(f"  [{'x' if c.points else ' '}] {c.label:<30} {c.evidence}")
    return out


def tail_lines(b: Breakdown) -> list[str]:
    """Deliverables, findings and follow-ups."""
    out = []
    if b.deliverables:
        out.append("\ndeliverables:")
        for d in b.deliverables:
            mark = {True: "ok", False: "FAILED", None: "n/a"}[d.ok]
            out.append(f"  {mark:<6} {d.deliverable.kind}: {d.detail}")
    if b.findings:
        out.append("\nfindings:")
        out += [f"  - {text}" for text in b.findings]
    if b.follow_ups:
        out.append("\nfollow-ups:")
        for f in b.follow_ups:
            where = (f"experiment {f.experiment_id} ({'approved' if f.approved else 'awaiting approval'})"
                     if f.experiment_id else f"duplicate of {f.duplicate_of}" if f.duplicate_of
                     else "suggested" if f.suggested else f"not proposed: {f.error or units.MISSING}")
            out.append(f"  - {f.kind}: {where}: {f.rationale}")
    return out
