"""The status line: engine alive or down (and since when), a language model the lab skips
(why in a few words, tried again when; since when where the width allows), proposals waiting,
why queued runs wait, autonomy, budgets left, the lab directory; in red, when generated code may
run without a sandbox. When the width is short, the least important segments are first shortened
(each has shorter forms that still say what matters), then dropped."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from agents.llm.endpoint import brief_reason
from contract import units
from tui.reader import Status
from tui.widgets.styling import ComponentStyles

AUTONOMY = {1: "assisted", 2: "semi-autonomous", 3: "autonomous"}


def short_path(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


class StatusLine(ComponentStyles, Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"status-line--up", "status-line--down", "status-line--warn", "status-line--badge",
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

    def segments(self) -> list[list[tuple[int, Text]]]:
        """Each segment as its stages, longest first: (priority, text). When space is short the
        stage with the highest priority number gives way first: to the segment's next, shorter
        stage, or, from its last, the segment goes. So a long form yields before a lesser
        segment's short form, and what a segment says is shortened before it is dropped. What
        gave way comes back where it fits after all (render), the most important first."""
        st = self.status
        style = self.cstyle
        out: list[list[tuple[int, Text]]] = []
        if not st.engine.known:
            out.append([(0, Text("engine …", style=style("status-line--dim")))])
        elif st.engine.running:
            up = style("status-line--up")
            short = Text.assemble(("● ", up), "engine up")
            out.append([(3, Text.assemble(("● ", up), f"engine up since {units.since(st.engine.since, self.now)}")),
                        (0, short)] if st.engine.since else [(0, short)])
        else:
            down = style("status-line--down")
            offer = " (S restarts it)" if not self.readonly else ""
            since = f" since {units.since(st.engine.since, self.now)}" if st.engine.since else ""
            out.append([(3, Text(f"✖ ENGINE DOWN{since}{offer}", style=down)),
                        (1, Text(f"✖ ENGINE DOWN{offer}", style=down)), (0, Text("✖ ENGINE DOWN", style=down))])
        if self.readonly:
            out.append([(1, Text("READ-ONLY", style=style("status-line--readonly")))])
        if st.unsandboxed:  # [llm.sandbox] allow_unsandboxed: shortened, never dropped (like the engine's state)
            unsafe = style("status-line--unsandboxed")
            out.append([(1, Text("UNSANDBOXED code allowed", style=unsafe)), (0, Text("UNSANDBOXED code", style=unsafe))])
        if st.db_problem:
            out.append([(1, Text(st.db_problem, style=style("status-line--warn")))])
        if st.llm_down:  # the dialogue's notice names the endpoint and the full reason
            warn = style("status-line--warn")
            variants = self.llm_variants()
            out.append([(3, Text(variants[0], style=warn)), (2, Text(variants[1], style=warn)),
                        *((1, Text(v, style=warn)) for v in variants[2:])])
        if st.proposals:
            plural = "s" if st.proposals > 1 else ""
            badge = style("status-line--badge")
            out.append([(2, Text(f" {st.proposals} proposal{plural} waiting (p) ", style=badge)),
                        (1, Text(f" {st.proposals} waiting (p) ", style=badge))])
        if st.paused:
            out.append([(2, Text("queue paused", style=style("status-line--warn")))])
        if st.runs_wait:
            out.append([(2, Text(f"runs wait: {st.runs_wait}", style=style("status-line--warn")))])
        if st.loaded:
            out.append([(3, Text(f"autonomy {st.autonomy} {AUTONOMY.get(st.autonomy, '')}".rstrip())),
                        (3, Text(f"autonomy {st.autonomy}"))])
            out.append([(4, self._budgets())])
        out.append([(5, Text(f"lab {short_path(self.lab)}", style=style("status-line--dim")))])
        return out

    def llm_variants(self) -> list[str]:
        """The degraded model's segment, longest first: why (in a few words) and when it is tried
        again; every form, the shortest too, says both."""
        down = self.status.llm_down
        first = down[0]
        more = f" (+{len(down) - 1})" if len(down) > 1 else ""
        brief = brief_reason(first.reason)
        since = self._minute(first.since)
        if first.retry_at is None:  # refused the key: no lockout, the next call tries it
            return [f"⚠ LLM{more} {brief} (since {since}); the next call retries",
                    f"⚠ LLM{more} {brief}; the next call retries", f"⚠ LLM{more} {brief}",
                    f"⚠ LLM{more} {brief.split(':')[0]}"]
        retry = self._minute(first.retry_at)
        return [f"⚠ LLM{more} since {since}: {brief}, retry {retry}",
                f"⚠ LLM degraded{more}: {brief}, retry {retry}", f"⚠ LLM{more}: {brief}, retry {retry}"]

    def _minute(self, t: float | None) -> str:
        """A time to the minute: the time of day if today, else the date too (status line width)."""
        if t is None:
            return units.MISSING
        same_day = time.localtime(t)[:3] == time.localtime(self.now)[:3]
        return time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", time.localtime(t))

    def _budgets(self) -> Text:
        st, b = self.status, self.status.budgets
        parts = []
        if b.experiments_per_hour is not None:
            parts.append(f"{max(0, b.experiments_per_hour - st.experiments_last_hour):g} exp/h")
        if b.kwh_per_day is not None:
            parts.append(units.energy(max(0.0, b.kwh_per_day - st.kwh_today)))
        if b.llm_usd_per_day is not None:
            parts.append(units.usd(max(0.0, b.llm_usd_per_day - st.usd_today)))
        left = "left: " + ", ".join(parts) if parts else "no budgets"
        over = (b.kwh_per_day is not None and st.kwh_today >= b.kwh_per_day) or \
            (b.llm_usd_per_day is not None and st.usd_today >= b.llm_usd_per_day)
        return Text(left, style=self.cstyle("status-line--warn") if over else "")

    def render(self) -> Text:
        width = max(1, self.size.width)
        sep = " │ "
        segments = self.segments()
        at = [0] * len(segments)  # each segment's stage; len(segments[i]) once it is dropped

        def shown(stages: list[int]) -> list[int]:
            return [i for i, stage in enumerate(stages) if stage < len(segments[i])]

        def used(stages: list[int]) -> int:
            alive = shown(stages)
            return sum(segments[i][stages[i]][1].cell_len for i in alive) + len(sep) * (len(alive) - 1)

        def grown(j: int) -> list[int]:
            return [stage - (i == j) for i, stage in enumerate(at)]

        while len(shown(at)) > 1 and used(at) > width:
            # the stage that gives way: the highest priority number, the later segment on a tie
            at[max(shown(at), key=lambda j: (segments[j][at[j]][0], j))] += 1
        while fits := [j for j in range(len(segments)) if at[j] > 0 and used(grown(j)) <= width]:
            # then what still fits comes back (a lesser segment's going left room for a longer
            # form): the most important stage first, the earlier segment on a tie
            at[min(fits, key=lambda j: (segments[j][at[j] - 1][0], j))] -= 1
        alive = shown(at)
        text = Text(no_wrap=True, overflow="ellipsis")
        for n, i in enumerate(alive):
            if n:
                text.append(sep, style=self.cstyle("status-line--dim"))
            text.append_text(segments[i][at[i]][1])
        return text
