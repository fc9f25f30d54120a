"""The leaderboard of rated experiments: rating, efficiency score E, speedup, compression and the
accuracy change with its 95 % CI, from `rating_breakdown.headline` (docs/RECORDS.md)."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from tui import format as fmt
from tui import keys
from tui.data import LeaderRow
from tui.widgets.styling import ComponentStyles

COLUMNS = [("id", "id", 4), ("name", "experiment", 0), ("rating", "rating", 6), ("e", "E", 8),
           ("speedup", "speedup", 7), ("compression", "compr.", 6), ("delta", "Δ acc, pt [95% CI]", 18)]


def delta_text(row: LeaderRow) -> str:
    """The accuracy change in percentage points with its CI: -0.2 [-1.1,+0.7]."""
    if row.quality_delta is None:
        return "-"
    if "accuracy" not in row.quality_key:  # perplexity: a change in its own units, never in points
        ci = f" [{row.delta_ci[0]:+.2g},{row.delta_ci[1]:+.2g}]" if row.delta_ci else ""
        return f"{row.quality_delta:+.2g} ppl{ci}" if "perplexity" in row.quality_key else \
            f"{row.quality_delta:+.2g}{ci}"
    ci = f" [{row.delta_ci[0] * 100:+.1f},{row.delta_ci[1] * 100:+.1f}]" if row.delta_ci else ""
    return f"{row.quality_delta * 100:+.1f}{ci}"


class Leaderboard(ComponentStyles, DataTable[Text], inherit_bindings=False):
    BINDINGS = keys.bindings(keys.QUEUE_NAV)
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {"leaderboard--good", "leaderboard--bad",
                                                       "leaderboard--dim", "leaderboard--est"}

    class Selected(Message):
        def __init__(self, experiment_id: int | None) -> None:
            super().__init__()
            self.experiment_id = experiment_id

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.leaders: tuple[LeaderRow, ...] = ()
        self._widths: tuple[int, ...] = ()
        self._shown: list[tuple[Text, ...]] = []

    def _column_widths(self) -> tuple[int, ...]:
        width = max(40, self.size.width - 1)
        fixed = sum(w for _, _, w in COLUMNS if w) + len(COLUMNS) * 2
        return tuple(w or max(10, width - fixed) for _, _, w in COLUMNS)

    def on_resize(self) -> None:
        self._apply(force=True)

    def show(self, rows: tuple[LeaderRow, ...]) -> None:
        if rows != self.leaders:
            self.leaders = rows
            self._apply()

    def cells(self, r: LeaderRow) -> tuple[Text, ...]:
        style = self.cstyle
        if r.void:  # an invalid control voids the comparison: no E to show
            e = Text("void", style=style("leaderboard--bad"))
        else:
            e = Text(f"{r.efficiency:.2f}" if r.efficiency is not None else "-")
        if r.estimated and r.efficiency is not None and not r.void:
            e.append(" mod", style=style("leaderboard--est"))  # energy modelled from CPU time
        delta = Text(delta_text(r), no_wrap=True)
        if r.delta_ci is not None:
            if r.delta_ci[0] > 0:
                delta.stylize(style("leaderboard--good"))
            elif r.delta_ci[1] < 0:
                delta.stylize(style("leaderboard--bad"))
        rating_style = style("leaderboard--good") if r.rating >= 7 else style("leaderboard--bad") if r.rating <= 3 else ""
        name = Text(r.name, no_wrap=True, overflow="ellipsis")
        if r.variant:
            name.append(f" {r.variant}", style=style("leaderboard--dim"))
        return (Text(f"#{r.id}"), name, Text(f"{r.rating:g}/10", style=rating_style),
                e, Text(fmt.ratio(r.speedup)), Text(fmt.ratio(r.compression)), delta)

    def _apply(self, force: bool = False) -> None:
        if not self.size.width:
            return
        widths = self._column_widths()
        cells = [self.cells(r) for r in self.leaders]
        if widths == self._widths and cells == self._shown and not force:
            return
        cursor = self.cursor_row
        if widths != self._widths or not self.columns:
            self._widths = widths
            self.clear(columns=True)
            for (key, label, _), w in zip(COLUMNS, widths):
                self.add_column(label, width=w, key=key)
        else:
            self.clear()
        for r, row in zip(self.leaders, cells):
            self.add_row(*row, key=str(r.id))
        self._shown = cells
        if self.leaders:
            self.move_cursor(row=min(cursor, len(self.leaders) - 1), animate=False)

    @property
    def selected_experiment(self) -> int | None:
        if not self.leaders or not 0 <= self.cursor_row < len(self.leaders):
            return None
        return self.leaders[self.cursor_row].id

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Selected(self.selected_experiment))
