"""The queue: experiments by state (proposals waiting first), with the runs that matter under
each (running, and those that failed), a progress bar and ETA, device and elapsed time.

Drawn by `LightTable`: when the rows are the same, only the cells whose text changed are drawn
again and only their regions repainted, so a ticking elapsed time costs one cell, not the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message

from contract import units
from db import QueueRun, RunState
from db.states import EXPERIMENT_WAITING, RUN_ACTIVE
from tui import keys
from tui.reader import QueueExperiment
from tui.widgets.light_table import Column, LightTable, Row
from tui.widgets.styling import ComponentStyles
from tui.widgets.table_cells import bar

RUN_SHOWN = {"running", "failed", "timed_out", "interrupted"}
STATE_LABEL = {"awaiting_approval": "awaiting", "timed_out": "timed out"}
STATE_CLASS = {
    "awaiting_approval": "queue--waiting", "proposed": "queue--waiting",
    "approved": "queue--active", "running": "queue--active", "analyzing": "queue--active",
    "queued": "queue--dim", "pending": "queue--dim",
    "done": "queue--ok", "succeeded": "queue--ok", "skipped": "queue--dim",
    "failed": "queue--bad", "timed_out": "queue--bad", "interrupted": "queue--bad",
    "rejected": "queue--dim", "cancelled": "queue--dim",
}
STATE_MARK = {"awaiting_approval": "?", "proposed": "?", "running": "▶", "analyzing": "∑", "approved": "·",
              "done": "✓", "succeeded": "✓", "failed": "✗", "timed_out": "✗", "interrupted": "!",
              "rejected": "-", "cancelled": "-", "queued": "·", "pending": "·", "skipped": "~"}

COLUMNS = [("id", "id", 4), ("name", "experiment / run", 0), ("state", "state", 10),
           ("progress", "progress", 0), ("eta", "ETA", 6), ("device", "device", 6), ("elapsed", "elapsed", 7)]
NARROW = 100  # below this width the device column is left out


@dataclass(frozen=True)
class Selection:
    experiment_id: int | None
    run_id: int | None
    status: str | None = None


def matches(tokens: list[str], *fields: object) -> bool:
    if not tokens:  # no filter: every row (without building the text to search)
        return True
    hay = " ".join(str(f).lower() for f in fields if f is not None)
    return all(t in hay for t in tokens)


class QueueTable(ComponentStyles, LightTable):
    BINDINGS = keys.bindings(keys.QUEUE_NAV)
    COMPONENT_CLASSES = LightTable.COMPONENT_CLASSES | {
        "queue--waiting", "queue--active", "queue--ok", "queue--bad", "queue--dim", "queue--bar"}

    class Selected(Message):
        def __init__(self, selection: Selection) -> None:
            super().__init__()
            self.selection = selection

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.experiments: tuple[QueueExperiment, ...] = ()
        self.now = 0.0
        self.filter_text = ""
        self._meta: dict[str, Selection] = {}
        self._widths: tuple[int, ...] = ()
        self._last_selection: Selection | None = None
        self._built: dict[str, tuple[object, tuple[Text, ...]]] = {}  # row key -> (what it shows, its cells)

    # -- data in -----------------------------------------------------------------------------

    def show(self, experiments: tuple[QueueExperiment, ...], now: float) -> None:
        self.experiments, self.now = experiments, now
        self._render_rows()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._render_rows()

    @property
    def selection(self) -> Selection:
        if not self._rows or not 0 <= self.cursor_row < len(self._rows):
            return Selection(None, None)
        return self._meta.get(self._rows[self.cursor_row][0], Selection(None, None))

    # -- building rows -----------------------------------------------------------------------

    def on_resize(self) -> None:
        self._render_rows()

    def visible_columns(self) -> list[tuple[str, str, int]]:
        return [c for c in COLUMNS if c[0] != "device" or self.size.width >= NARROW]

    def _column_widths(self) -> tuple[int, ...]:
        columns = self.visible_columns()
        width = max(40, self.size.width - 1)
        fixed = sum(w for _, _, w in columns if w) + len(columns) * 2
        flexible = max(20, width - fixed)
        name = max(12, min(40, flexible * 5 // 9))
        progress = max(8, flexible - name)
        return tuple(w or (name if key == "name" else progress) for key, _, w in columns)

    def _ensure_columns(self) -> None:
        widths = self._column_widths()
        if widths == self._widths and self.columns:
            return
        self._widths = widths
        self.set_columns([Column(key, label, w) for (key, label, _), w in zip(self.visible_columns(), widths)])

    def _style(self, status: str) -> str:
        return STATE_CLASS.get(status, "queue--dim")

    def _state(self, status: str) -> Text:
        label = f"{STATE_MARK.get(status, ' ')} {STATE_LABEL.get(status, status)}"
        return Text(label, style=self.cstyle(self._style(status)), no_wrap=True)

    def _progress(self, fraction: float | None, label: str) -> Text:
        width = self._widths[3] if len(self._widths) > 3 else 16
        bar_w = max(3, width - len(label) - 1)
        text = Text(no_wrap=True, overflow="ellipsis")
        if fraction is None:
            text.append(label, style=self.cstyle("queue--dim"))
            return text
        text.append(bar(fraction, bar_w), style=self.cstyle("queue--bar"))
        text.append(" " + label)
        return text

    def _experiment_cells(self, e: QueueExperiment) -> tuple[Text, ...]:
        now = self.now
        dim = self.cstyle("queue--dim")
        name = Text(e.name, no_wrap=True, overflow="ellipsis")
        if e.catalog != e.name:
            name.append(f" {e.catalog}", style=dim)
        runs = e.runs
        if e.status in EXPERIMENT_WAITING:
            progress = self._progress(None, f"from {e.source}")
            elapsed = Text(units.duration(now - e.created_at), style=dim)
            eta = Text("")
        elif runs:
            finished = sum(1 for r in runs if r.status not in RUN_ACTIVE)
            partial = sum((r.progress_done or 0) / r.progress_total for r in runs
                          if r.status == RunState.RUNNING and r.progress_total)
            progress = self._progress((finished + partial) / len(runs), f"{finished}/{len(runs)}")
            end = e.finished_at or now
            elapsed = Text(units.duration(end - e.started_at) if e.started_at else units.MISSING)
            etas = [self._eta(r) for r in runs if r.status == RunState.RUNNING]
            known = [x for x in etas if x is not None]
            eta = Text(units.duration(max(known)) if known else "")
        else:
            label = f"rating {e.rating:g}" if e.rating is not None else ""
            progress = self._progress(None, label)
            end = e.finished_at or now
            elapsed = Text(units.duration(end - e.started_at) if e.started_at else units.MISSING, style=dim)
            eta = Text("")
        return (Text(f"#{e.id}", no_wrap=True), name, self._state(e.status), progress, eta, Text(""), elapsed)

    def _eta(self, r: QueueRun) -> float | None:
        if r.status != RunState.RUNNING or r.started_at is None or not r.progress_total or not r.progress_done:
            return None
        elapsed = self.now - r.started_at
        return max(0.0, elapsed * (r.progress_total - r.progress_done) / r.progress_done)

    def _run_cells(self, r: QueueRun) -> tuple[Text, ...]:
        dim = self.cstyle("queue--dim")
        name = Text(" └ ", style=dim, no_wrap=True, overflow="ellipsis")
        name.append(f"{r.variant} s{r.seed}")
        if r.attempt > 1:
            name.append(f" try {r.attempt}", style=dim)
        if self.size.width < NARROW and r.device:  # no device column at this width
            name.append(f" {r.device}", style=dim)
        if r.status == RunState.RUNNING:
            fraction = (r.progress_done or 0) / r.progress_total if r.progress_total else None
            progress = self._progress(fraction, units.percent(fraction, 0).replace(" ", "") if fraction is not None
                                      else "starting")
            eta_s = self._eta(r)
            eta = Text(units.duration(eta_s) if eta_s is not None else units.MISSING)
        else:
            progress = Text((r.error or "").splitlines()[0] if r.error else "", style=dim, no_wrap=True,
                            overflow="ellipsis")
            eta = Text("")
        end = r.finished_at or self.now
        elapsed = Text(units.duration(end - r.started_at) if r.started_at else units.MISSING)
        return (Text(f" {r.id}", style=dim, no_wrap=True), name, self._state(r.status), progress, eta,
                Text(r.device or units.MISSING, no_wrap=True), elapsed)

    def build_rows(self) -> tuple[list[Row], dict[str, Selection]]:
        """The rows shown, and what each selects. A row whose experiment or run is unchanged (and
        that shows no time running on) keeps its cells, the same objects: the table skips it."""
        visible = self.visible_columns()
        keep = [i for i, c in enumerate(COLUMNS) if c in visible]
        fixed = (self._widths, self.size.width < NARROW, self.app.theme)
        built: dict[str, tuple[object, tuple[Text, ...]]] = {}
        rows: list[Row] = []
        meta: dict[str, Selection] = {}
        for key, item, selection in self._shown():
            signature = (item, self.now if item.finished_at is None else None, fixed)
            hit = self._built.get(key)
            if hit is None or hit[0] != signature:
                cells = self._experiment_cells(item) if isinstance(item, QueueExperiment) else self._run_cells(item)
                hit = (signature, tuple(cells[i] for i in keep))
            built[key] = hit
            rows.append((key, hit[1]))
            meta[key] = selection
        self._built = built
        return rows, meta

    def _shown(self) -> Iterator[tuple[str, QueueExperiment | QueueRun, Selection]]:
        tokens = self.filter_text.lower().split()
        for e in self.experiments:
            exp_hit = matches(tokens, f"#{e.id}", e.id, e.name, e.catalog, e.status, e.source)
            shown = [r for r in e.runs if r.status in RUN_SHOWN]
            run_hits = [r for r in shown if matches(tokens, r.id, r.variant, r.status, r.device, e.name,
                                                    e.catalog, f"#{e.id}")]
            if not exp_hit and not run_hits:
                continue
            yield f"e{e.id}", e, Selection(e.id, None, e.status)
            for r in (shown if exp_hit else run_hits):
                yield f"r{r.id}", r, Selection(e.id, r.id, r.status)

    def _render_rows(self) -> None:
        if not self.size.width:
            return
        self._ensure_columns()
        rows, meta = self.build_rows()
        self._meta = meta
        self.set_rows(rows)
        self._announce()

    def cursor_moved(self) -> None:
        self._announce()

    def _announce(self) -> None:
        selection = self.selection
        if selection != self._last_selection:
            self._last_selection = selection
            self.post_message(self.Selected(selection))
