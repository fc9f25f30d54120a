"""Write changed cells into a Textual DataTable and redraw only those cells.

`DataTable.update_cell` bumps the table's one update counter, which every rendering cache is
keyed by, so a single changed cell renders the whole table again. The control room's tables
change a few cells each second (elapsed times, ETAs), so they write through `set_cells`, which
drops only the changed cells' cached renderings (and falls back to `update_cell` on a Textual
without these internals), and marks the changed cells dirty in one refresh (one `refresh` per cell
cost 4 % of the control room's CPU with four runs streaming).

`MeasuredTable` is a DataTable whose lines are drawn again when its columns widen: Textual
measures new rows' cells on the table's next idle (`_update_dimensions`) without bumping the
update counter, so a line drawn between `add_row` and that idle (the header, when the screen
painted in between) stayed in its caches at the columns' old widths under rows drawn at the
new ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

CACHES = ("_cell_render_cache", "_row_render_cache", "_row_renderable_cache", "_line_cache")

Change = tuple[str, str, Coordinate, Text]  # row key, column key, where it is shown, new value


class MeasuredTable(DataTable[Text]):
    """A DataTable that draws every line again when measuring new rows changed a column's width."""

    def _update_dimensions(self, new_rows: Any) -> None:
        before = self._widths()
        super()._update_dimensions(new_rows)
        if self._widths() != before and isinstance(getattr(self, "_update_count", None), int):
            self._update_count += 1  # every line cache is keyed by it: the old widths' lines are dropped
            self.refresh()

    def _widths(self) -> list[int]:
        return [column.get_render_width(self) for column in self.columns.values()] \
            + [self._row_label_column_width]


def set_cells(table: DataTable[Any], changed: list[Change]) -> None:
    if not changed:
        return
    data = getattr(table, "_data", None)
    caches: list[Any] = [getattr(table, name, None) for name in CACHES]
    if not isinstance(data, dict) or not all(hasattr(c, "keys") and hasattr(c, "discard") for c in caches) \
            or not all(RowKey(key) in data for key, *_ in changed):  # pragma: no cover - another Textual
        for key, column, _, value in changed:
            table.update_cell(key, column, value)
        return
    cells_cache, rows_cache, renderables_cache, lines_cache = caches
    cells = {(RowKey(key), ColumnKey(column)) for key, column, _, _ in changed}
    row_keys = {row for row, _ in cells}
    row_indexes = {coordinate.row for _, _, coordinate, _ in changed}
    for key, column, _, value in changed:
        data[RowKey(key)][ColumnKey(column)] = value
    _drop(cells_cache, lambda k: (k[0], k[1]) in cells)  # keyed (row, column, ...)
    _drop(rows_cache, lambda k: k[0] in row_keys)  # keyed (row, line, ...)
    _drop(renderables_cache, lambda k: k[1] in row_indexes)  # keyed (update count, row index)
    lines_cache.clear()  # lines are joined from the rows' cached renderings: cheap to redo
    regions = cell_regions(table, [coordinate for _, _, coordinate, _ in changed])
    if regions:
        table.refresh(*regions)


def cell_regions(table: DataTable[Any], coordinates: list[Coordinate]) -> list[Region]:
    """Where these cells are shown in the table's window, as `DataTable.refresh_coordinate`
    finds them (one cell at a time, summing the widths and heights before it), computed with
    the columns' offsets and the rows' offsets summed once."""
    columns, rows = table.ordered_columns, table.ordered_rows
    xs = [table._row_label_column_width]
    for column in columns:
        xs.append(xs[-1] + column.get_render_width(table))
    ys = [table.header_height if table.show_header else 0]
    for row in rows:
        ys.append(ys[-1] + row.height)
    window, offset = table.window_region, table.scroll_offset
    regions = []
    for row_index, column_index in coordinates:
        if not (0 <= row_index < len(rows) and 0 <= column_index < len(columns)):
            continue
        region = Region(xs[column_index], ys[row_index], xs[column_index + 1] - xs[column_index],
                        rows[row_index].height)
        if window.overlaps(region):
            regions.append(region.translate(-offset))
    return regions


def _drop(cache: Any, hit: Callable[[Any], bool]) -> None:
    for key in [k for k in cache.keys() if hit(k)]:  # noqa: SIM118 (Textual's LRUCache is not iterable)
        cache.discard(key)


BAR_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar of `width` cells filled to `fraction` (eighths of a cell)."""
    if width <= 0:
        return ""
    f = 0.0 if fraction is None or fraction != fraction else max(0.0, min(1.0, fraction))
    eighths = round(f * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (BAR_EIGHTHS[part] if part else "")
    return text + " " * (width - len(text))
