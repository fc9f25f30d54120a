"""The runs of one experiment: variant, seed, state, progress, device, elapsed, attempts, note."""

from __future__ import annotations

from rich.text import Text
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

from contract import units
from db import Run, RunState
from tui import keys
from tui.widgets.queue_table import STATE_CLASS, STATE_MARK
from tui.widgets.styling import ComponentStyles
from tui.widgets.table_cells import MeasuredTable, bar, set_cells

COLUMNS = ["run", "variant", "seed", "state", "progress", "device", "elapsed", "try", "note"]


class RunsTable(ComponentStyles, MeasuredTable, inherit_bindings=False):
    BINDINGS = keys.bindings(keys.QUEUE_NAV)
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "queue--waiting", "queue--active", "queue--ok", "queue--bad", "queue--dim"}

    class Selected(Message):
        def __init__(self, run_id: int | None) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.runs: list[Run] = []
        self._shown: list[tuple[Text, ...]] = []

    def on_mount(self) -> None:
        for c in COLUMNS:
            self.add_column(c, key=c)

    def cells(self, r: Run, now: float) -> tuple[Text, ...]:
        style = self.cstyle
        state = Text(f"{STATE_MARK.get(r.status, ' ')} {r.status}",
                     style=style(STATE_CLASS.get(r.status, "queue--dim")))
        done, total = r.progress_done, r.progress_total
        progress = f"{bar(done / total, 8)} {units.percent(done / total, 0):>5}" if done is not None and total else units.MISSING
        end = r.finished_at or (now if r.status == RunState.RUNNING else None)
        elapsed = units.duration(end - r.started_at) if r.started_at and end else units.MISSING
        note = (r.error or "").splitlines()[0][:60] if r.error else ""
        variant = r.variant + (" (baseline)" if r.is_baseline else "")
        return (Text(str(r.id)), Text(variant), Text(str(r.seed)), state, Text(progress),
                Text(r.device or r.device_kind or units.MISSING), Text(elapsed),
                Text(f"{r.attempt}/{r.max_attempts}"), Text(note, style=style("queue--dim")))

    def show(self, runs: list[Run], now: float) -> None:
        cells = [self.cells(r, now) for r in runs]
        if cells == self._shown and [r.id for r in runs] == [r.id for r in self.runs]:
            return
        same_rows = [r.id for r in runs] == [r.id for r in self.runs]
        self.runs = runs
        if same_rows:
            set_cells(self, [(str(r.id), COLUMNS[c], Coordinate(i, c), a)
                             for i, (r, new, old) in enumerate(zip(runs, cells, self._shown))
                             for c, (a, b) in enumerate(zip(new, old)) if a != b])
        else:
            cursor = self.cursor_row
            self.clear()
            for r, row in zip(runs, cells):
                self.add_row(*row, key=str(r.id))
            if runs:
                self.move_cursor(row=min(cursor, len(runs) - 1), animate=False)
        self._shown = cells

    @property
    def selected_run(self) -> int | None:
        if not self.runs or not 0 <= self.cursor_row < len(self.runs):
            return None
        return self.runs[self.cursor_row].id

    def select_run(self, run_id: int) -> None:
        for i, r in enumerate(self.runs):
            if r.id == run_id:
                self.move_cursor(row=i, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Selected(self.selected_run))
