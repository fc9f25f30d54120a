"""The validator's rating and its breakdown (docs/RECORDS.md, docs/AGENTS.md): criteria with
evidence (rubric v2: evidence, then effect), every variant against its reference with the
validator's own CIs, the headline comparison and whether its control is valid, deliverables and
findings. Nothing is recomputed here; records of rubric v1 show what they hold."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from contract import quantities, units
from contract.comparison import EXACT, MODELLED, Pair, QualityChange, Spread
from contract.rating_record import Breakdown, VariantResult
from db import Experiment
from science.headline import headline_text, void_reason
from science.rubric import preliminary_text
from science.text import the
from tui.widgets.styling import ComponentStyles


def _ratio_ci(value: float | None, ci: Pair | None) -> str:
    text = units.ratio(value)
    return text if text == units.MISSING or not ci else f"{text} [{units.ratio_interval(ci)}]"


def _quality(q: Spread, kind: quantities.Kind) -> str:
    """The quality in its kind's unit with its CI: '81.2 % [80.1..82.3 %]', '145.1 ppl [...]'."""
    text = units.value(q.mean, kind)
    return text if text == units.MISSING or not q.ci95 else f"{text} [{units.interval(q.ci95, kind)}]"


def _change(d: QualityChange | None, kind: quantities.Kind, ref_mean: Any) -> str:
    """The change against the reference as the kind says it, with its CI."""
    text = units.change(d.mean if d else None, kind, ref_mean)
    return text if text == units.MISSING or d is None or not d.ci95 else \
        f"{text} [{units.change_interval(d.ci95, kind, ref_mean)}]"


def _criteria(b: Breakdown) -> Table:
    criteria = Table(box=None, padding=(0, 2, 0, 0), header_style="bold", title="Criteria", title_justify="left",
                     title_style="bold")
    grouped = any(c.group for c in b.criteria)
    for col in (["group"] if grouped else []) + ["criterion", "points", "evidence"]:
        criteria.add_column(col)
    for c in b.criteria:
        row: list[RenderableType] = [Text(c.label or c.id), f"{c.points}/{c.max}", Text(c.evidence)]  # text, never markup
        criteria.add_row(*([Text(c.group)] if grouped else []), *row)
    return criteria


def _variant_row(name: str, v: VariantResult, b: Breakdown, kind: quantities.Kind, v2: bool, bad: Any) -> list[Any]:
    c = v.compared
    d = c.quality_delta
    ref_mean = d.reference_mean if d else None
    if ref_mean is None and v.reference and (ref := b.variants.get(v.reference)) is not None:
        ref_mean = ref.quality.mean
    est = " modelled" if v.energy_estimated and c.efficiency_score is not None else ""
    row: list[Any] = [Text(name), str(v.n), _quality(v.quality, kind), _change(d, kind, ref_mean),
                      units.pvalue(c.p_value),
                      (f"void ({void_reason(c.control_note)})" if v.comparisons and c.control_valid is False
                       else _ratio_ci(c.efficiency_score, c.efficiency_score_ci95) + est),
                      _ratio_ci(c.speedup, c.ratio_ci("time")), _ratio_ci(c.compression, c.ratio_ci("size"))]
    if v2:
        control: Any = units.MISSING if v.reference is None else ("valid" if c.control_valid else
                                                                  Text("INVALID", style=bad))
        return [*row, Text(v.reference or "(reference)"), control]
    return [*row, units.num(c.effect_size, 2)]


def _variants(b: Breakdown, bad: Any) -> Table:
    v2 = (b.rubric_version or 1) >= 2  # rubric v1 compared unpaired and checked no control
    variants = Table(box=None, padding=(0, 2, 0, 0), header_style="bold", title="Variants vs their reference",
                     title_justify="left", title_style="bold")
    cols = ["variant", "n", "quality [95% CI]", "Δ quality [CI]", "p", "E [CI]", "speedup [CI]", "compr. [CI]"]
    cols += ["vs", "control"] if v2 else ["effect"]
    for col in cols:
        variants.add_column(col, justify="left" if col in ("variant", "vs", "control") else "right")
    kind = quantities.kind_of(b.keys.get("quality"))
    for name, v in b.variants.items():
        variants.add_row(*_variant_row(name, v, b, kind, v2, bad))
    return variants


def _headline_parts(b: Breakdown, bad: Any) -> list[RenderableType]:
    head = b.headline
    if head is None:
        return []
    parts: list[RenderableType] = [Text.assemble(("Headline: ", "bold"), headline_text(head, b.quality_key))]
    if head.effect_kind == EXACT:
        measured = head.effect_detail.measured if head.effect_detail is not None else None
        instead = measured.metric if measured is not None else None
        parts.append(Text(f"{head.metric} is exact (the same on every seed, by construction): not "
                          "evidence; " + (f"the effect points judge the measured {instead}." if instead else
                                          "no measured cost to judge instead."), style="dim"))
    if head.control_valid is False:
        parts.append(Text(f"Comparison void: {head.control_note}. No effect point is given.", style=bad))
    return parts


def breakdown_renderable(exp: Experiment, ok: Any = "green", bad: Any = "red") -> RenderableType:
    b = exp.rating_breakdown
    if exp.rating is None and b is None:
        return Text("Not rated yet: the validator rates an experiment when its runs have finished.", style="dim")
    parts: list[RenderableType] = []
    rating = exp.rating
    title = Text.assemble(("Rating ", "bold"), (f"{rating:g}/10" if rating is not None else units.MISSING, "bold"))
    if b is None:
        return Group(title)
    title.append(f"   rubric v{b.rubric_version or 1}, {the('baseline', b.baseline or units.MISSING)}, gain in "
                 f"{b.gain_phase or units.MISSING}", style="dim")
    parts.append(title)
    if prelim := preliminary_text(exp):
        parts.append(Text(prelim, style=bad))
    parts += _headline_parts(b, bad)
    parts.append(_criteria(b))
    parts.append(_variants(b, bad))
    parts += _notes(b, ok, bad)
    return Group(*parts)


def _notes(b: Breakdown, ok: Any, bad: Any) -> list[RenderableType]:
    """Below the tables: the other void controls, modelled energy, the deliverables, the findings."""
    parts: list[RenderableType] = []
    shown = b.headline.variant if b.headline is not None else None
    for name, v in b.variants.items():
        if v.comparisons and v.compared.control_valid is False and name != shown:
            parts.append(Text(f"✗ {name} vs {v.reference}: control invalid ({v.compared.control_note})", style=bad))
    if any(v.energy_estimated for v in b.variants.values()):
        parts.append(Text(f"Energy {MODELLED} (no hardware counter): it is not evidence beside time.", style="dim"))
    for d in b.deliverables:
        mark = "✓" if d.ok else "✗"
        parts.append(Text(f"{mark} deliverable {d.deliverable.kind}: {d.detail}", style=ok if d.ok else bad))
    if b.findings:
        t = Text.assemble(("Findings:", "bold"))
        for f in b.findings:
            t.append(f"\n  • {f}")
        parts.append(t)
    return parts


class RatingView(ComponentStyles, Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"rating--ok", "rating--bad"}

    def show(self, exp: Experiment) -> None:
        self.update(breakdown_renderable(exp, self.cstyle("rating--ok"), self.cstyle("rating--bad")))
