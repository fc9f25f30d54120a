"""`t`: the research tracker: quality bands, success rate, breakthroughs, the best speedup,
compression and energy saving with their experiments, and each agent's contribution. The same
computation as `lab report` (records/reports/lab.py `tracker`), read again whenever the lab changes;
each result counted once (science/counting.py), as the Ratings panel counts: the bands line says how
many reproductions and superseded runs were folded into their result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from contract.publication import Published
from tui import keys
from tui.screens.base import LabScreen
from tui.session import Session
from tui.widgets.footer import LabFooter

if TYPE_CHECKING:
    from records.reports.lab import Tracker


def published_text(pub: Published | None) -> str:
    """What `lab publish` last wrote, when and where (and where it pushed the zoo)."""
    if pub is None:
        return "nothing yet (`lab publish`)"
    parts = [f"{pub.when} to {pub.out}: {len(pub.experiments)} experiment(s), {len(pub.models)} model(s)"]
    if pub.pushed:
        parts.append("pushed to " + ", ".join(pub.pushed.repos))
    if pub.problems:
        parts.append(f"{len(pub.problems)} part(s) not done")
    return "; ".join(parts)


def tracker_renderable(t: Tracker, published: Published | None = None) -> Group:
    from records.reports.lab import CONTRIBUTION_HEADERS, CONTRIBUTION_LEGEND, contribution_rows, tracker_lines

    lines = Table(box=None, padding=(0, 2, 0, 0), show_header=False, expand=False)
    lines.add_column("what", style="bold", no_wrap=True)
    lines.add_column("value")
    for what, value in tracker_lines(t):
        lines.add_row(Text(what), Text(value))  # text, never markup: names come from the lab
    lines.add_row(Text("last published"), Text(published_text(published)))
    agents = Table(box=None, padding=(0, 1, 0, 0), header_style="bold", title="Who did what",
                   title_justify="left", title_style="bold", caption=CONTRIBUTION_LEGEND, caption_justify="left")
    for header in CONTRIBUTION_HEADERS:
        agents.add_column(header, justify="left" if header == "agent" else "right", no_wrap=header == "agent")
    for row in contribution_rows(t):
        agents.add_row(*(Text(cell) for cell in row))
    parts: list[Any] = [lines, Text("")]
    parts.append(agents if t.agents else Text("No proposals yet.", style="dim"))
    return Group(*parts)


class TrackerScreen(LabScreen):
    BINDINGS = keys.bindings([keys.ALL["app.back"]])
    KEY_SCOPES: tuple[list[keys.Key], ...] = ()

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._version = -1
        self.tracker: Tracker | None = None

    def compose(self) -> ComposeResult:
        yield from self.status_line()
        with VerticalScroll(id="tracker-panel", classes="panel"):
            yield Static("reading the lab…", id="tracker")
        yield LabFooter()

    def on_mount(self) -> None:
        panel = self.query_one("#tracker-panel")
        panel.border_title = "Research tracker"
        panel.border_subtitle = "esc: back"
        panel.focus()

    async def poll(self, version: int, now: float) -> None:
        store = self.session.store
        if store is None or version == self._version:
            return
        self._version = version
        from records.reports.lab import read_tracker
        from records.roadmap_report import last_publication

        self.tracker = await read_tracker(store)
        published = last_publication(self.session.lab)
        self.query_one("#tracker", Static).update(tracker_renderable(self.tracker, published))
