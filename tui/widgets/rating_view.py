"""The validator's rating and its breakdown (docs/RECORDS.md, docs/AGENTS.md): criteria with
evidence (rubric v2: evidence, then effect), every variant against its reference with the
validator's own CIs, the headline comparison and whether its control is valid, deliverables and
findings. Nothing is recomputed here; records of rubric v1 show what they hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from contract import quantities, units
from science.analysis import MODELLED, headline_text, void_reason
from science.rubric import preliminary_text
from science.text import the
from tui.widgets.styling import ComponentStyles


def _num(x: Any, pattern: str = "{:.2f}") -> str:
    return pattern.format(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else units.MISSING


def _ratio_ci(v: dict[str, Any], key: str) -> str:
    ci = v.get(f"{key}_ci95")
    text = units.ratio(v.get(key))
    return text if text == units.MISSING or not ci else f"{text} [{units.ratio_interval(ci)}]"


def _quality(q: dict[str, Any], kind: quantities.Kind) -> str:
    """The quality in its kind's unit with its CI: '81.2 % [80.1..82.3 %]', '145.1 ppl [...]'."""
    text = units.value(q.get("mean"), kind)
    return text if text == units.MISSING or not q.get("ci95") else f"{text} [{units.interval(q['ci95'], kind)}]"


def _change(d: dict[str, Any], kind: quantities.Kind, ref_mean: Any) -> str:
    """The change against the reference as the kind says it, with its CI."""
    text = units.change(d.get("mean"), kind, ref_mean)
    return text if text == units.MISSING or not d.get("ci95") else f"{text} [{units.change_interval(d['ci95'], kind, ref_mean)}]"


def _criteria(b: dict[str, Any]) -> Table:
    criteria = Table(box=None, padding=(0, 2, 0, 0), header_style="bold", title="Criteria", title_justify="left",
                     title_style="bold")
    grouped = any(c.get("group") for c in b.get("criteria") or [])
    for col in (["group"] if grouped else []) + ["criterion", "points", "evidence"]:
        criteria.add_column(col)
    for c in b.get("criteria") or []:
        row: list[RenderableType] = [Text(str(c.get("label", c.get("id", "")))), f"{c.get('points', '-')}/{c.get('max', '-')}",
               Text(str(c.get("evidence", "")))]  # text, never markup
        criteria.add_row(*([Text(str(c.get("group", "")))] if grouped else []), *row)
    return criteria


def _variants(b: dict[str, Any], bad: Any) -> Table:
    v2 = any("paired" in v for v in (b.get("variants") or {}).values())
    variants = Table(box=None, padding=(0, 2, 0, 0), header_style="bold", title="Variants vs their reference",
                     title_justify="left", title_style="bold")
    cols = ["variant", "n", "quality [95% CI]", "Δ quality [CI]", "p", "E [CI]", "speedup [CI]", "compr. [CI]"]
    cols += ["vs", "control"] if v2 else ["effect"]
    for col in cols:
        variants.add_column(col, justify="left" if col in ("variant", "vs", "control") else "right")
    kind = quantities.kind_of((b.get("keys") or {}).get("quality"))
    all_variants = b.get("variants") or {}
    for name, v in all_variants.items():
        q = v.get("quality") or {}
        d = v.get("quality_delta") or {}
        ref_mean = d.get("reference_mean")
        if ref_mean is None and v.get("reference"):
            ref_mean = ((all_variants.get(v["reference"]) or {}).get("quality") or {}).get("mean")
        est = " modelled" if v.get("energy_estimated") and v.get("efficiency_score") is not None else ""
        row: list[Any] = [Text(name), str(v.get("n", "-")), _quality(q, kind), _change(d, kind, ref_mean),
                          _num(v.get("p_value"), "{:.3f}"),
                          (f"void ({void_reason(v.get('control_note'))})" if v.get("control_valid") is False
                           else _ratio_ci(v, "efficiency_score") + est),
                          _ratio_ci(v, "speedup"), _ratio_ci(v, "compression")]
        if v2:
            ref = v.get("reference")
            control: Any = units.MISSING if ref is None else ("valid" if v.get("control_valid") else
                                                    Text("INVALID", style=bad))
            row += [Text(ref or "(reference)"), control]
        else:
            row.append(_num(v.get("effect_size")))
        variants.add_row(*row)
    return variants


def breakdown_renderable(exp: dict[str, Any], ok: Any = "green", bad: Any = "red") -> RenderableType:
    b = exp.get("rating_breakdown")
    if exp.get("rating") is None and not b:
        return Text("Not rated yet: the validator rates an experiment when its runs have finished.", style="dim")
    parts: list[RenderableType] = []
    rating = exp.get("rating")
    title = Text.assemble(("Rating ", "bold"), (f"{rating:g}/10" if rating is not None else units.MISSING, "bold"))
    if isinstance(b, dict):
        title.append(f"   rubric v{b.get('rubric_version', 1)}, {the('baseline', b.get('baseline', '-'))}, gain in "
                     f"{b.get('gain_phase', '-')}", style="dim")
    parts.append(title)
    if not isinstance(b, dict):
        return Group(*parts)
    if prelim := preliminary_text(exp):
        parts.append(Text(prelim, style=bad))
    head = b.get("headline") or {}
    parts += _headline(b, head, bad)
    parts.append(_criteria(b))
    parts.append(_variants(b, bad))
    parts += _notes(b, head, ok, bad)
    return Group(*parts)


def _headline(b: Mapping[str, Any], head: Mapping[str, Any], bad: Any) -> list[RenderableType]:
    """The headline comparison, and why its effect is no evidence when it is exact or void."""
    if not head:
        return []
    quality = (b.get("keys") or {}).get("quality", "quality")
    parts: list[RenderableType] = [Text.assemble(("Headline: ", "bold"), headline_text(dict(head), quality))]
    if head.get("effect_kind") == "exact":
        instead = ((head.get("effect_detail") or {}).get("measured") or {}).get("metric")
        parts.append(Text(f"{head.get('metric')} is exact (the same on every seed, by construction): not "
                          "evidence; " + (f"the effect points judge the measured {instead}." if instead else
                                          "no measured cost to judge instead."), style="dim"))
    if head.get("control_valid") is False:
        parts.append(Text(f"Comparison void: {head.get('control_note')}. No effect point is given.", style=bad))
    return parts


def _notes(b: Mapping[str, Any], head: Mapping[str, Any], ok: Any, bad: Any) -> list[RenderableType]:
    """Below the tables: the other void controls, modelled energy, the deliverables, the findings."""
    parts: list[RenderableType] = []
    void = [(n, v) for n, v in (b.get("variants") or {}).items() if v.get("control_valid") is False and n != head.get("variant")]
    for name, v in void:
        parts.append(Text(f"✗ {name} vs {v.get('reference')}: control invalid ({v.get('control_note')})", style=bad))
    if any(v.get("energy_estimated") for v in (b.get("variants") or {}).values()):
        parts.append(Text(f"Energy {MODELLED} (no hardware counter): it is not evidence beside time.", style="dim"))
    for d in b.get("deliverables") or []:
        mark = "✓" if d.get("ok") else "✗"
        parts.append(Text(f"{mark} deliverable {d.get('kind', '')}: {d.get('detail', '')}",
                          style=ok if d.get("ok") else bad))
    findings = b.get("findings") or []
    if findings:
        t = Text.assemble(("Findings:", "bold"))
        for f in findings:
            t.append(f"\n  • {f}")
        parts.append(t)
    return parts


class RatingView(ComponentStyles, Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"rating--ok", "rating--bad"}

    def show(self, exp: dict[str, Any]) -> None:
        self.update(breakdown_renderable(exp, self.cstyle("rating--ok"), self.cstyle("rating--bad")))
