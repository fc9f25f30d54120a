"""The validator's rating and its breakdown (docs/RECORDS.md): criteria with evidence, every
variant against the baseline with CIs, deliverables and findings."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui import format as fmt
from tui.widgets.styling import ComponentStyles


def _ci(pair: Any, scale: float = 100.0, unit: str = "", signed: bool = True) -> str:
    if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, (int, float)) for x in pair):
        pattern = "{:+.1f}" if signed else "{:.1f}"
        return f"[{pattern.format(pair[0] * scale)}, {pattern.format(pair[1] * scale)}]{unit}"
    return ""


def _num(x: Any, pattern: str = "{:.2f}") -> str:
    return pattern.format(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else "-"


def breakdown_renderable(exp: dict[str, Any], ok: Any = "green", bad: Any = "red") -> RenderableType:
    b = exp.get("rating_breakdown")
    if exp.get("rating") is None and not b:
        return Text("Not rated yet: the validator rates an experiment when its runs have finished.", style="dim")
    parts: list[RenderableType] = []
    rating = exp.get("rating")
    title = Text.assemble(("Rating ", "bold"), (f"{rating:g}/10" if rating is not None else "-", "bold"))
    if isinstance(b, dict):
        title.append(f"   baseline {b.get('baseline', '-')}, gain in {b.get('gain_phase', '-')}", style="dim")
    parts.append(title)
    if not isinstance(b, dict):
        return Group(*parts)
    criteria = Table(box=None, padding=(0, 2, 0, 0), header_style="bold", title="Criteria", title_justify="left",
                     title_style="bold")
    for col in ("criterion", "points", "evidence"):
        criteria.add_column(col)
    for c in b.get("criteria") or []:
        criteria.add_row(Text(str(c.get("label", c.get("id", "")))), f"{c.get('points', '-')}/{c.get('max', '-')}",
                         Text(str(c.get("evidence", ""))))  # text, never markup
    parts.append(criteria)
    variants = Table(box=None, padding=(0, 2, 0, 0), header_style="bold", title="Variants vs baseline",
                     title_justify="left", title_style="bold")
    for col in ("variant", "n", "quality [95% CI]", "Δ quality [CI]", "p", "effect", "E", "speedup", "compr."):
        variants.add_column(col, justify="left" if col == "variant" else "right")
    for name, v in (b.get("variants") or {}).items():
        q = v.get("quality") or {}
        d = v.get("quality_delta") or {}
        est = " est" if v.get("energy_estimated") and v.get("efficiency_score") is not None else ""
        variants.add_row(Text(name), str(v.get("n", "-")),
                         f"{fmt.percent(q.get('mean'), 1)} {_ci(q.get('ci95'), signed=False)}".strip(),
                         f"{fmt.points(d.get('mean'))} {_ci(d.get('ci95'))}".strip(),
                         _num(v.get("p_value"), "{:.3f}"), _num(v.get("effect_size")),
                         _num(v.get("efficiency_score")) + est, fmt.ratio(v.get("speedup")),
                         fmt.ratio(v.get("compression")))
    parts.append(variants)
    head = b.get("headline") or {}
    if head:
        parts.append(Text.assemble(("Headline: ", "bold"),
                                   f"{head.get('variant', '-')}: E {_num(head.get('efficiency_score'))}"
                                   f"{' (energy estimated)' if head.get('energy_estimated') else ''}, "
                                   f"speedup {fmt.ratio(head.get('speedup'))}, compression "
                                   f"{fmt.ratio(head.get('compression'))}, accuracy "
                                   f"{fmt.points(head.get('quality_delta'))} (95 % CI {_ci(head.get('quality_delta_ci95'))})"))
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
    return Group(*parts)


class RatingView(ComponentStyles, Static):
    COMPONENT_CLASSES = {"rating--ok", "rating--bad"}

    def show(self, exp: dict[str, Any]) -> None:
        self.update(breakdown_renderable(exp, self.cstyle("rating--ok"), self.cstyle("rating--bad")))
