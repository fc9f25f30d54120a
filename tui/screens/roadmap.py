"""`m`: the roadmap: the four phases with each success criterion met or not, its evidence and what
would meet it, the proposals that served it, and the metrics it tracks. The same computation as
`lab roadmap` (records/roadmap.py), read again whenever the lab changes."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui import keys
from tui.screens.base import LabScreen
from tui.session import Session
from tui.widgets.footer import LabFooter

STYLE = {"met": "green", "unmet": "yellow", "unreachable here": "dim"}
MARK = {"met": "✓", "unmet": "·", "unreachable here": "–"}


def roadmap_renderable(data: dict[str, Any]) -> Group:
    """The roadmap's JSON (records/roadmap.to_json) as rich text: text, never markup (names come
    from the lab)."""
    parts: list[Any] = []
    current = data["current_phase"]
    parts.append(Text(f"Current phase: {current}" if current else "Every criterion met (or out of reach here)",
                      style="bold"))
    parts.append(Text(f"counted experiments: {', '.join(map(str, data['counted_experiments'])) or 'none'} · "
                      f"preliminary: {', '.join(map(str, data['preliminary_experiments'])) or 'none'}", style="dim"))
    for phase in data["phases"]:
        parts.append(Text(""))
        parts.append(Text(f"Phase {phase['number']}: {phase['name']} ({phase['state']}) — {phase['goal']}",
                          style="bold reverse" if phase["number"] == current else "bold"))
        for c in phase["criteria"]:
            line = Text(f" {MARK[c['status']]} ", style=STYLE[c["status"]])
            line.append(c["text"], style=STYLE[c["status"]])
            line.append(f": {c['evidence']}")
            parts.append(line)
            if c["to_meet"]:
                parts.append(Text(f"     to meet it: {c['to_meet']}", style="italic"))
            if c["served_by"]:
                parts.append(Text("     served by: " + ", ".join(f"exp {s['experiment']} ({s['status']})"
                                                                 for s in c["served_by"]), style="dim"))
    parts += [Text(""), Text("Metrics tracking", style="bold")]
    for m in data["metrics"].values():
        parts.append(Text(f" {m['label']}: {m['text']}"))
    return Group(*parts)


class RoadmapScreen(LabScreen):
    BINDINGS = keys.bindings([keys.ALL["app.back"]])
    KEY_SCOPES: tuple[list[keys.Key], ...] = ()

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._version = -1
        self.roadmap: dict[str, Any] | None = None

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
        from records.roadmap import read, to_json

        self.roadmap = to_json(await read(store, self.session.lab))
        self.query_one("#roadmap", Static).update(roadmap_renderable(self.roadmap))
