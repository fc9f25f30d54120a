"""The status line: engine alive or down (and since when), a language model the lab skips
(degraded since when, tried again when), autonomy, budgets left, proposals waiting, the lab
directory; in red, when generated code may run without a sandbox. Segments that do not fit the
width are dropped, least important first."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.text import Text
from textual.widget import Widget

from tui import format as fmt
from tui.data import Status
from tui.widgets.styling import ComponentStyles

AUTONOMY = {1: "assisted", 2: "semi-autonomous", 3: "autonomous"}


def short_path(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


class StatusLine(ComponentStyles, Widget):
    COMPONENT_CLASSES = {"status-line--up", "status-line--down", "status-line--warn", "status-line--badge",
                         "status-line--dim", "status-line--readonly", "status-line--unsandboxed"}

    def __init__(self, lab: str, readonly: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lab = lab
        self.readonly = readonly
        self.status = Status()
        self.now = 0.0
        self._key: tuple[object, ...] | None = None

    def show(self, status: Status, now: float) -> None:
        """Redraw only when what is shown changes (the 'since' text has a one-second grain)."""
        key = (status, time.localtime(now)[:3])  # 'since' shows a date once it is not today
        if key != self._key:
            self._key = key
            self.status, self.now = status, now
            self.refresh()

    def segments(self) -> list[tuple[int, Text]]:
        """(priority, text): lower priority numbers are kept first when space is short."""
        st = self.status
        style = self.cstyle
        out: list[tuple[int, Text]] = []
        if not st.engine.known:
            out.append((0, Text("engine …", style=style("status-line--dim"))))
        elif st.engine.running:
            since = f" since {fmt.since(st.engine.since, self.now)}" if st.engine.since else ""
            out.append((0, Text.assemble(("● ", style("status-line--up")), f"engine up{since}")))
        else:
            since = f" since {fmt.since(st.engine.since, self.now)}" if st.engine.since else ""
            offer = " (S restarts it)" if not self.readonly else ""
            out.append((0, Text(f"✖ ENGINE DOWN{since}{offer}", style=style("status-line--down"))))
        if self.readonly:
            out.append((1, Text("READ-ONLY", style=style("status-line--readonly"))))
        if st.unsandboxed:  # [llm.sandbox] allow_unsandboxed: kept at every width, like the engine's state
            out.append((0, Text("UNSANDBOXED code", style=style("status-line--unsandboxed"))))
        if st.db_problem:
            out.append((1, Text(st.db_problem, style=style("status-line--warn"))))
        if st.llm_down:  # the dialogue's notice names the endpoint and why
            down = st.llm_down[0]
            more = f" (+{len(st.llm_down) - 1})" if len(st.llm_down) > 1 else ""
            out.append((1, Text(f"⚠ LLM degraded{more}", style=style("status-line--warn"))))
            retry = f", retry {self._minute(down.retry_at)}" if down.retry_at else ""
            out.append((2, Text(f"LLM since {self._minute(down.since)}{retry}", style=style("status-line--warn"))))
        if st.proposals:
            plural = "s" if st.proposals > 1 else ""
            out.append((1, Text(f" {st.proposals} proposal{plural} waiting (p) ", style=style("status-line--badge"))))
        if st.paused:
            out.append((2, Text("queue paused", style=style("status-line--warn"))))
        if st.loaded:
            out.append((3, Text(f"autonomy {st.autonomy} {AUTONOMY.get(st.autonomy, '')}".rstrip())))
            out.append((4, self._budgets()))
        out.append((5, Text(f"lab {short_path(self.lab)}", style=style("status-line--dim"))))
        return out

    def _minute(self, t: float | None) -> str:
        """A time to the minute: the time of day if today, else the date too (status line width)."""
        if t is None:
            return "-"
        same_day = time.localtime(t)[:3] == time.localtime(self.now)[:3]
        return time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", time.localtime(t))

    def _budgets(self) -> Text:
        st, b = self.status, self.status.budgets
        parts = []
        if b.experiments_per_hour is not None:
            parts.append(f"{max(0, b.experiments_per_hour - st.experiments_last_hour):g} exp/h")
        if b.kwh_per_day is not None:
            parts.append(fmt.energy(max(0.0, b.kwh_per_day - st.kwh_today)))
        if b.llm_usd_per_day is not None:
            parts.append(fmt.usd(max(0.0, b.llm_usd_per_day - st.usd_today)))
        left = "left: " + ", ".join(parts) if parts else "no budgets"
        over = (b.kwh_per_day is not None and st.kwh_today >= b.kwh_per_day) or \
            (b.llm_usd_per_day is not None and st.usd_today >= b.llm_usd_per_day)
        return Text(left, style=self.cstyle("status-line--warn") if over else "")

    def render(self) -> Text:
        width = max(1, self.size.width)
        segments = self.segments()
        keep = list(segments)
        sep = " │ "
        while len(keep) > 1 and sum(t.cell_len for _, t in keep) + len(sep) * (len(keep) - 1) > width:
            drop = max(keep, key=lambda s: s[0])
            keep.remove(drop)
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (_, segment) in enumerate(keep):
            if i:
                text.append(sep, style=self.cstyle("status-line--dim"))
            text.append_text(segment)
        return text
