"""`m`: the roadmap: the four phases with each success criterion met or not, its evidence and what
would meet it, the proposals that served it, and the metrics it tracks. The same computation as
`lab roadmap` (records/roadmap_report.py), read again whenever the lab changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from science import roadmap_doc as doc
from tui import keys
from tui.screens.base import LabScreen
from tui.session import Session
from tui.widgets.footer import LabFooter

if TYPE_CHECKING:
    from records.roadmap_report import Roadmap

STYLE = {"met": "green", "unmet": "yellow", "unreachable here": "dim"}
MARK = {"met": "✓", "unmet": "·", "unreachable here": "–"}


def roadmap_renderable(r: Roadmap) -> Group:
    """The roadmap (records/roadmap_report.py, as `lab roadmap` prints it) as rich text: text, never markup
    (names come from the lab)."""
    from records.roadmap_report import phase_state

    parts: list[Any] = []
    current = r.standing.current_phase
    parts.append(Text(f"Current phase: {current}" if current else "Every criterion met (or out of reach here)",
                      style="bold"))
    parts.append(Text(f"counted experiments: {', '.join(map(str, r.standing.counted)) or 'none'} · "
                      f"preliminary: {', '.join(map(str, r.preliminary)) or 'none'}", style="dim"))
    for phase in doc.PHASES:
        parts.append(Text(""))
        parts.append(Text(f"Phase {phase.number}: {phase.name} ({phase_state(r, phase.number)}) — {phase.goal}",
                          style="bold reverse" if phase.number == current else "bold"))
        for spec in phase.criteria:
            c = r.standing.of(spec.id)
            style = STYLE[c.status.value]
            line = Text(f" {MARK[c.status.value]} ", style=style)
            line.append(c.text, style=style)
            line.append(f": {c.evidence}")
            parts.append(line)
            if c.to_meet:
                parts.append(Text(f"     to meet it: {c.to_meet}", style="italic"))
            served = r.served.get(c.id, [])
            if served:
                parts.append(Text("     served by: " + ", ".join(f"exp {s.experiment} ({s.status})" for s in served),
                                  style="dim"))
    parts += [Text(""), Text("Metrics tracking", style="bold")]
    for m in r.metrics:
        parts.append(Text(f" {m.label}: {m.text}"))
    return Group(*parts)


class RoadmapScreen(LabScreen):
    BINDINGS = keys.bindings([keys.ALL["app.back"]])
    KEY_SCOPES: tuple[list[keys.Key], ...] = ()

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._version = -1
        self.roadmap: Roadmap | None = None

    def compose(self) -> ComposeResult:
        yield from self.status_line()
        with VerticalScroll(id="roadmap-panel", classes="panel"):
            yield Static("reading the lab…", id="roadmap")
        yield LabFooter()

    def on_mount(self) -> None:
        panel = self.query_one("#roadmap-panel")
        panel.border_title = "Roadmap"
        panel.border_subtitle = "esc: back"
        panel.focus()

    async def poll(self, version: int, now: float) -> None:
        store = self.session.store
        if store is None or version == self._version:
            return
        self._version = version
        from records.roadmap_report import read

        self.roadmap = await read(store, self.session.lab)
        self.query_one("#roadmap", Static).update(roadmap_renderable(self.roadmap))
