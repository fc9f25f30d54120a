"""The leaderboard of rated experiments: rating, efficiency score E, speedup, compression and the
quality change with its 95 % CI, from `rating_breakdown.headline` (docs/RECORDS.md).

A preliminary experiment (smoke, or fewer seeds than the rubric asks) shows its rating dimmed
with a "p": it is no finding. A result is counted once (science/counting.py, as the roadmap and
`lab publish` count it): a reproduction and an earlier run that a re-run of the same entry and
parameters superseded follow the result they belong to, their rating dimmed and their name saying
so ("↳ repro", "↳ superseded").

The quality change is in its own unit: accuracy in percentage points, perplexity in perplexity.
When every row has the same one, the unit is in the column's header and the cells stay short;
when they differ, each cell names its unit."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from contract import quantities, units
from tui import keys
from tui.ratings import LeaderRow
from tui.widgets.styling import ComponentStyles
from tui.widgets.table_cells import MeasuredTable

COLUMNS = [("id", "id", 4), ("name", "experiment", 0), ("rating", "rating", 6), ("e", "E", 8),
           ("speedup", "speedup", 7), ("compression", "compr.", 6), ("delta", "Δ quality [95% CI]", 18)]
MIXED_DELTA_WIDTH = 24  # "+0.57 ppl [+0.39..+0.76]": each cell names its unit
VOID_E_WIDTH = 20       # "void: under-budgeted"


def quality_unit(key: str) -> str:
    """The unit a quality change is shown in (`contract.quantities`, compact): "pt" (accuracy
    points), "ppl", or "" (the metric's own)."""
    kind = quantities.kind_of(key)
    return "pt" if kind is quantities.Kind.FRACTION else quantities.info(kind).unit


def delta_header(rows: tuple[LeaderRow, ...]) -> str | None:
    """The column's header with the unit every row shares; None when the rows' units differ."""
    units = {quality_unit(r.quality_key) for r in rows if r.quality_delta is not None}
    if len(units) > 1:
        return None
    unit = next(iter(units), "pt")
    return {"pt": "Δ acc, pt [95% CI]", "ppl": "Δ ppl [95% CI]"}.get(unit, "Δ quality [95% CI]")


def delta_text(row: LeaderRow, with_unit: bool = True) -> str:
    """The quality change with its CI, in its own unit (the one formatter, compact): "-0.2 pt
    [-1.1..+0.7]" for accuracy, "+0.57 ppl [+0.39..+0.76]" for perplexity; without the unit when
    the header carries it."""
    if row.quality_delta is None:
        return units.MISSING
    kind = quantities.kind_of(row.quality_key)
    unit = quality_unit(row.quality_key)
    number = units.change(row.quality_delta, kind, digits=2, compact=True)
    ci = units.change_interval(row.delta_ci, kind, digits=2, compact=True)
    if unit:
        number = number if with_unit else number.removesuffix(f" {unit}")
        ci = ci.removesuffix(f" {unit}")
    return number + (f" [{ci}]" if ci != units.MISSING else "")


class Leaderboard(ComponentStyles, MeasuredTable, inherit_bindings=False):
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
        self._layout: tuple[tuple[int, ...], str] = ((), "")
        self._shown: list[tuple[Text, ...]] = []

    def _columns(self) -> list[tuple[str, str, int]]:
        header = delta_header(self.leaders)
        delta = ("delta", header, 18) if header else ("delta", "Δ quality [95% CI]", MIXED_DELTA_WIDTH)
        columns = [*COLUMNS[:-1], delta]
        if any(r.void for r in self.leaders):  # "void: under-budgeted": the reason needs room
            columns[3] = ("e", "E", VOID_E_WIDTH)
        return columns

    def _column_widths(self) -> tuple[int, ...]:
        width = max(40, self.size.width - 1)
        columns = self._columns()
        fixed = sum(w for _, _, w in columns if w) + len(columns) * 2
        return tuple(w or max(10, width - fixed) for _, _, w in columns)

    def on_resize(self) -> None:
        self._apply(force=True)

    def show(self, rows: tuple[LeaderRow, ...]) -> None:
        if rows != self.leaders:
            self.leaders = rows
            self._apply()

    def cells(self, r: LeaderRow, with_unit: bool = True) -> tuple[Text, ...]:
        style = self.cstyle
        if r.void:  # an invalid control voids the comparison: no E to show, and why
            e = Text(f"void: {r.void_reason}" if r.void_reason else "void", style=style("leaderboard--bad"),
                     no_wrap=True, overflow="ellipsis")
        else:
            e = Text(f"{r.efficiency:.2f}" if r.efficiency is not None else units.MISSING)
        if r.estimated and r.efficiency is not None and not r.void:
            e.append(" mod", style=style("leaderboard--est"))  # energy modelled from CPU time
        delta = Text(delta_text(r, with_unit=with_unit), no_wrap=True)
        if r.delta_ci is not None:
            if r.delta_ci[0] > 0:
                delta.stylize(style("leaderboard--good"))
            elif r.delta_ci[1] < 0:
                delta.stylize(style("leaderboard--bad"))
        rating_style = style("leaderboard--good") if r.rating >= 7 else style("leaderboard--bad") if r.rating <= 3 else ""
        name = Text(no_wrap=True, overflow="ellipsis")
        if r.folded:  # no rating of its own: the result above it counts (science/counting.py)
            name.append("↳ repro " if r.reproduces is not None else "↳ superseded ", style=style("leaderboard--est"))
        name.append(r.name)
        if r.variant:
            name.append(f" {r.variant}", style=style("leaderboard--dim"))
        rating = Text(f"{r.rating:g}/10", style=style("leaderboard--dim") if r.folded else rating_style)
        if r.preliminary:  # smoke or too few seeds: no finding (science/rubric.preliminary)
            rating = Text(f"{r.rating:g}/10", style=style("leaderboard--dim"))
            rating.append(" p", style=style("leaderboard--est"))
        return (Text(f"#{r.id}"), name, rating,
                e, Text(units.ratio(r.speedup)), Text(units.ratio(r.compression)), delta)

    def _apply(self, force: bool = False) -> None:
        if not self.size.width:
            return
        columns = self._columns()
        widths = self._column_widths()
        mixed = delta_header(self.leaders) is None  # units differ: each cell names its own
        cells = [self.cells(r, with_unit=mixed) for r in self.leaders]
        layout = (widths, columns[-1][1])
        if layout == self._layout and cells == self._shown and not force:
            return
        cursor = self.cursor_row
        if layout != self._layout or not self.columns:
            self._layout = layout
            self.clear(columns=True)
            for (key, label, _), w in zip(columns, widths):
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
