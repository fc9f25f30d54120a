"""One proposal as the approver reads it: hypothesis, research question, evidence, plan,
parameters diffed against its parent, seeds, and the estimated time and energy."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from agents.sandbox_isolation import unsandboxed
from contract import units
from db import Experiment, MessageKind
from tui.reader import Proposal
from tui.widgets.styling import ComponentStyles


def estimate(p: Proposal) -> tuple[str, str]:
    """(time, energy) for the whole plan, from the proposal's own estimate or past runs."""
    exp = p.experiment
    n_runs = len(exp.plan) * exp.seeds
    est = exp.metadata.given.get("estimate") or {}
    if isinstance(est, dict) and (est.get("time_s") is not None or est.get("energy_kwh") is not None):
        return (units.duration(est.get("time_s")), units.energy(est.get("energy_kwh")) + " (agent's estimate)")
    h = p.history
    if not h.n:
        return ("unknown (no finished run of this entry yet)", "unknown")
    source = f"from {h.n} past run(s)"
    time_s = h.mean_s * n_runs if h.mean_s is not None else None
    kwh = h.mean_kwh * n_runs if h.mean_kwh is not None else None
    return (f"{units.duration(time_s)} of run time ({n_runs} runs, {source})",
            units.energy(kwh, h.estimated) if kwh is not None else "unknown")


SHOWN_APART = ("Hypothesis: ", "Research question: ")  # the view's own fields, not repeated as evidence


def _without_fields(text: str, exp: Experiment) -> str:
    """A message's text less its lines that repeat the hypothesis or the research question."""
    known = {exp.hypothesis.strip(), exp.research_question.strip()} - {""}
    kept = []
    for line in text.splitlines():
        bare = line.strip()
        for label in SHOWN_APART:
            if bare.startswith(label):
                bare = bare[len(label):].strip()
        if bare in known or (line.strip().startswith(SHOWN_APART) and not bare):
            continue
        kept.append(line.removeprefix("Evidence: "))  # the section's own title, not said twice
    return "\n".join(kept).strip()


def evidence(p: Proposal) -> list[str]:
    meta = p.experiment.metadata
    given = meta.given.get("evidence")
    if isinstance(given, str) and given.strip():
        return [given.strip()]
    if isinstance(given, list):
        return [str(g) for g in given if str(g).strip()]
    texts = (_without_fields(m.text, p.experiment) for m in p.messages if m.kind in (MessageKind.PROPOSAL, MessageKind.FINDING))
    return [t for t in texts if t][-3:]


def value(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(value(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class ProposalView(ComponentStyles, VerticalScroll):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"proposal--label", "proposal--changed", "proposal--dim", "proposal--title",
                         "proposal--unsandboxed"}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.proposal: Proposal | None = None
        self._body = Static("", classes="proposal-body")

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, proposal: Proposal | None, position: tuple[int, int]) -> None:
        self.proposal = proposal
        self._body.update(self.build(proposal, position))
        self.scroll_home(animate=False)

    def build(self, p: Proposal | None, position: tuple[int, int]) -> RenderableType:
        style = self.cstyle
        if p is None:
            return Text("No proposal is waiting. The research agents' next ideas appear here.",
                        style=style("proposal--dim"))
        exp = p.experiment
        head = Text()
        head.append(f"Proposal {position[0]} of {position[1]}  ", style=style("proposal--dim"))
        head.append(f"#{exp.id} {exp.name}", style=style("proposal--title"))
        head.append(f"  ({exp.catalog}, from {exp.source}", style=style("proposal--dim"))
        if exp.parent_id:
            head.append(f", follow-up of #{exp.parent_id}", style=style("proposal--dim"))
        head.append(")", style=style("proposal--dim"))
        parts: list[RenderableType] = [head]
        where = exp.metadata.generated.sandbox if exp.metadata.generated else None
        if unsandboxed(where):  # [llm.sandbox] allow_unsandboxed, and no working bubblewrap
            parts.append(Text(f"Generated code that runs WITHOUT a sandbox, as you, with your files: {where}",
                              style=style("proposal--unsandboxed")))

        def field(label: str, text: str) -> None:
            t = Text()
            t.append(f"{label}: ", style=style("proposal--label"))
            t.append(text or units.MISSING)
            parts.append(t)

        field("Hypothesis", exp.hypothesis)
        field("Research question", exp.research_question)
        ev = evidence(p)
        if ev:
            t = Text()
            t.append("Evidence:", style=style("proposal--label"))
            for line in ev:
                t.append(f"\n  • {line}")
            parts.append(t)
        plan = exp.plan
        t = Text()
        t.append("Plan: ", style=style("proposal--label"))
        t.append(f"{len(plan)} variant(s) x {exp.seeds} seed(s) = {len(plan) * exp.seeds} run(s)")
        for v in plan:
            t.append(f"\n  {v.name}")
            if v.baseline:
                t.append(" (baseline)", style=style("proposal--dim"))
            if v.depends_on:
                t.append(f" ← {', '.join(v.depends_on)}", style=style("proposal--dim"))
            if v.params:
                t.append("  " + ", ".join(f"{k}={value(x)}" for k, x in v.params.items()),
                         style=style("proposal--dim"))
        parts.append(t)
        parts.append(self.params_table(p))
        time_text, energy_text = estimate(p)
        field("Seeds", str(exp.seeds))
        field("Estimated time", time_text)
        field("Estimated energy", energy_text)
        edited = exp.modifications.edited
        if edited:
            field("Edited by you", ", ".join(f"{k}={value(v)}" for k, v in edited.items()))
        return Group(*parts)

    def params_table(self, p: Proposal) -> Table:
        style = self.cstyle
        parent = p.parent.params if p.parent else {}
        params = p.experiment.params
        same = bool(p.parent) and all(parent.get(k) == v for k, v in params.items())
        parent_id = p.parent.id if p.parent else None
        title = (f"Parameters (as parent #{parent_id})" if same else
                 f"Parameters (vs parent #{parent_id})" if p.parent else "Parameters")
        table = Table(title=title, title_justify="left", title_style=style("proposal--label"), box=None,
                      show_header=bool(p.parent) and not same, padding=(0, 2, 0, 2), expand=False)
        table.add_column("parameter", no_wrap=True)
        table.add_column("value")
        if p.parent:
            table.add_column("parent", style=style("proposal--dim"))
        for name in sorted(params):
            v = params[name]
            changed = bool(p.parent) and parent.get(name) != v
            row = [Text(name), Text(value(v), style=style("proposal--changed") if changed else "")]
            if p.parent:
                row.append(Text(value(parent[name]) if name in parent else "(new)") if changed else Text(""))
            table.add_row(*row)
        return table
