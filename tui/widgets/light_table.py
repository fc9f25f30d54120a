"""A light table: rows of Rich `Text` cells under a header, a row cursor, and only the changed
cells redrawn.

The control room's queue was drawn by Textual's DataTable, its largest cost with four runs
streaming (a fifth of the app's CPU, py-spy): every changed cell went through Rich's generic
rendering (`Styled(Padding(cell))` into `Console.render_lines`), and every line through the
table's caches keyed by a dozen values. This table keeps each row's line ready (a `Strip`), so a
line that did not change costs a dictionary look-up, and draws a changed cell's segments
directly. It draws what DataTable draws, segment for segment (the same styles, the same
`row`/`column` meta that a click reads; `tests/tui/test_light_table.py` compares the two): the
header, the row cursor (`table--cursor`, DataTable's `datatable--cursor` colours, blurred when
the table has no focus), the fill to the right edge, the scrollbars.

It does less than DataTable: one line per row, no row labels, fixed columns, sorting or hover
highlight; the cursor is a row cursor. Keys: `cursor_up`, `cursor_down`, `page_up`,
`page_down`, `scroll_top`, `scroll_bottom` (actions a subclass binds); a click moves the cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual import events
from textual._segment_tools import line_crop
from textual.geometry import Region, Size, Spacing
from textual.scroll_view import ScrollView
from textual.strip import Strip

NULL = Style.null()
PLAIN = Style()
PADDING = 1  # blank cells on each side of a cell's text, as DataTable's `cell_padding`
HEADER = 1   # lines of the header


class Column(NamedTuple):
    key: str
    label: str
    width: int  # of the text; the column is 2 * PADDING wider


Row = tuple[str, tuple[Text, ...]]  # key, cells


class CellRender(NamedTuple):
    """A drawn cell: what it was drawn from, its segments, and those joined where styles allow."""

    pre: Style
    width: int
    cell: Text
    segments: list[Segment]
    joined: list[Segment]


def _apart(pieces: list[CellRender], rest: Segment) -> bool:
    """Would joining the whole line's segments leave each cell's joined ones as they are (no two
    neighbouring cells end and begin with one style, the line starts with a cell's text)?"""
    last: Segment | None = None
    for piece in pieces:
        if not piece.joined:
            continue
        first = piece.joined[0]
        if (last is None and not first.text) or (last is not None and last.style == first.style):
            return False
        last = piece.joined[-1]
    return last is None or last.style != rest.style


def same_cell(a: Text, b: Text) -> bool:
    """The same object, or equal text, spans and style (`Text.__eq__` compares no style: a dimmed
    '12s' equals '12s')."""
    return a is b or (a.plain == b.plain and a.style == b.style and a.spans == b.spans
                      and a.overflow == b.overflow and a.no_wrap == b.no_wrap)


def cell_segments(console: Console, cell: Text, width: int, pre: Style, post: Style) -> list[Segment]:
    """The segments of one cell `width` wide: what `Console.render_lines(Styled(Padding(cell, (0, 1)),
    pre, post))` gives DataTable for a one-line row, without the renderable machinery."""
    inner = width - 2 * PADDING
    if inner < 1 or "\n" in cell.plain or "\t" in cell.plain:
        return _rich_cell(console, cell, width, pre, post)
    line = cell
    if cell_len(cell.plain) > inner:
        line = cell.copy()
        line.truncate(inner, overflow=cell.overflow or "fold")
    # as `Text.__rich_console__` joins its lines: the cell's style becomes a span under its spans
    plain = line.plain
    spans = [Span(0, len(plain), line.style), *line.spans] if line.style else list(line.spans)
    if plain and len(spans) == 1 and spans[0][:2] == (0, len(plain)) and isinstance(spans[0].style, Style):
        rendered = [Segment(plain, spans[0].style)]  # what `Text.render` gives for one style over it all
    else:
        rendered = list(Text(plain, spans=spans).render(console))
    segments = Segment.adjust_line_length(rendered, inner, style=NULL, pad=True)
    pad = Segment(" " * PADDING, NULL)
    out = []
    for text, style, _ in (pad, *segments, pad):
        if pre:
            style = pre + style
        if post:
            style = style + post if style else post
        out.append(Segment(text, style))
    return out


def _rich_cell(console: Console, cell: Text, width: int, pre: Style, post: Style) -> list[Segment]:
    """A cell through Rich's own path (text with line breaks or tabs, a column too narrow)."""
    from rich.padding import Padding
    from textual.renderables.styled import Styled

    options = console.options.update_dimensions(width, 1).update(no_wrap=True)
    return console.render_lines(Styled(Padding(cell, (0, PADDING)), pre_style=pre, post_style=post), options)[0]


class LightTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LightTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"table--header", "table--cursor"}

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: tuple[Column, ...] = ()
        self._width_of: tuple[Column, ...] | None = None  # the columns `_table_width` was summed for
        self._table_width = 0
        self._rows: list[Row] = []
        self._given: list[tuple[Text, ...]] = []  # the cells each row was last given (`set_rows`)
        self._index: dict[str, int] = {}
        self.cursor_row = 0
        self._lines: dict[str | None, tuple[object, Strip]] = {}  # row key (None: the header) -> its line
        self._cells: dict[tuple[str, int], CellRender] = {}
        self._styles: dict[tuple[int, bool], tuple[tuple[Style, Style, int], list[Style], Style]] = {}  # each cell's, the fill's
        self._pass: Style | None = None  # the widget's style, looked up once a rendering pass

    # -- data ----------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def get_row(self, key: str) -> list[Text]:
        return list(self._rows[self._index[key]][1])

    def set_columns(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)
        self._forget()
        self._resize_virtual()
        self.refresh()

    def clear(self) -> None:
        self.set_rows([])

    def set_rows(self, rows: list[Row]) -> None:
        """Show `rows`. The same keys in the same order: only the changed cells are redrawn.
        Otherwise every row is drawn again and the cursor stays on its row's key (or its place)."""
        old = self._rows
        if [k for k, _ in rows] == [k for k, _ in old]:
            changed: list[tuple[int, list[int]]] = []
            kept: list[Row] = []
            for i, (key, cells) in enumerate(rows):
                if cells is self._given[i]:  # the caller's cells of last time: nothing changed
                    kept.append(old[i])
                    continue
                # a cell that shows the same keeps its old object (the drawing compares by identity first)
                same = [same_cell(a, b) for a, b in zip(cells, old[i][1])]
                kept.append((key, tuple(b if alike else a for a, b, alike in zip(cells, old[i][1], same))
                             + cells[len(same):]))
                changed.append((i, [c for c, alike in enumerate(same) if not alike]))
            self._rows, self._given = kept, [cells for _, cells in rows]
            self._refresh_cells([(i, cols) for i, cols in changed if cols])
            return
        before = old[self.cursor_row][0] if 0 <= self.cursor_row < len(old) else None
        self._rows, self._given = rows, [cells for _, cells in rows]
        self._index = {key: i for i, (key, _) in enumerate(rows)}
        self._lines.clear()
        self._cells = {k: v for k, v in self._cells.items() if k[0] in self._index}
        self._resize_virtual()
        self.refresh()
        target = self._index.get(before, self.cursor_row) if before is not None else self.cursor_row
        self.cursor_row = -1  # moved below: the new row is announced even at the same index
        self.move_cursor(row=target)

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self.table_width, HEADER + len(self._rows))

    @property
    def table_width(self) -> int:
        columns = self.columns
        if self._width_of is not columns:  # measured once per set of columns, not per line drawn
            self._width_of, self._table_width = columns, sum(c.width + 2 * PADDING for c in columns)
        return self._table_width

    def _forget(self) -> None:
        self._lines.clear()
        self._cells.clear()
        self._styles.clear()

    def notify_style_update(self) -> None:
        self._forget()
        super().notify_style_update()

    def _on_resize(self, event: events.Resize) -> None:
        self._lines.clear()  # the fill to the right edge changed

    # -- the cursor ----------------------------------------------------------------------------

    def move_cursor(self, *, row: int, animate: bool = False, scroll: bool = True) -> None:
        row = max(0, min(row, len(self._rows) - 1))
        if row != self.cursor_row:
            old, self.cursor_row = self.cursor_row, row
            self._refresh_rows(old, row)
            self.cursor_moved()
        if scroll and self._rows:
            self.scroll_to_region(Region(int(self.scroll_x), HEADER + row, self.table_width, 1),
                                  animate=animate, spacing=Spacing(HEADER, 0, 0, 0), force=True)

    def cursor_moved(self) -> None:
        """Called when the cursor moved to another row (or the rows changed under it)."""

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_down(self) -> None:
        page = max(1, self.scrollable_content_region.height - HEADER)
        self.scroll_relative(y=page, animate=False, force=True)
        self.move_cursor(row=self.cursor_row + page, scroll=False)

    def action_page_up(self) -> None:
        page = max(1, self.scrollable_content_region.height - HEADER)
        self.scroll_relative(y=-page, animate=False)
        self.move_cursor(row=self.cursor_row - page, scroll=False)

    def action_scroll_top(self) -> None:
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(row=len(self._rows) - 1)

    async def _on_click(self, event: events.Click) -> None:
        row = event.style.meta.get("row")
        if isinstance(row, int) and row >= 0:
            self.move_cursor(row=row, animate=True)
            event.stop()

    # -- drawing -------------------------------------------------------------------------------

    def _refresh_rows(self, *indexes: int) -> None:
        for i in indexes:
            if 0 <= i < len(self._rows):
                self._lines.pop(self._rows[i][0], None)
                y = HEADER + i - int(self.scroll_y)
                if HEADER <= y < self.size.height:
                    self.refresh(Region(0, y, max(self.size.width, self.table_width), 1))

    def _refresh_cells(self, changed: list[tuple[int, list[int]]]) -> None:
        """Drop the changed rows' lines and mark only the changed cells' regions dirty."""
        xs = [0]
        for c in self.columns:
            xs.append(xs[-1] + c.width + 2 * PADDING)
        scroll_x, scroll_y = int(self.scroll_x), int(self.scroll_y)
        regions: list[Region] = []
        for i, cols in changed:
            self._lines.pop(self._rows[i][0], None)
            y = HEADER + i - scroll_y
            if not HEADER <= y < self.size.height:
                continue
            regions.extend(Region(xs[c] - scroll_x, y, xs[c + 1] - xs[c], 1) for c in cols if c < len(self.columns))
        if regions:
            self.refresh(*regions)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass = self.rich_style  # an ancestor walk: once a pass, not once a line
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self._pass or self.rich_style
        if y >= HEADER:
            index = y - HEADER + int(self.scroll_y)
            if not 0 <= index < len(self._rows):
                return Strip.blank(width, base)
            key: str | None = self._rows[index][0]
        else:
            index, key = -1, None
        cursor = index == self.cursor_row
        scroll_x = int(self.scroll_x)
        signature = (index, cursor, width, scroll_x, base)
        cached = self._lines.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        strip = self._render_row(index, cursor, width, scroll_x, base)
        self._lines[key] = (signature, strip)
        return strip

    def _render_row(self, index: int, cursor: bool, width: int, scroll_x: int, base: Style) -> Strip:
        """One line as DataTable's `_render_line` draws it for a one-line row (index -1: the header).
        A row's cells keep their segments joined where the styles allow (each cell's styles carry its
        own `column` meta, so no join crosses two cells): a line not scrolled sideways is their
        segments one after the other, not cropped, measured and joined again."""
        console = self.app.console
        pres, fill, post = self._row_styles(index, cursor, base)
        rest = Segment(" " * max(0, width - self.table_width), fill)
        if index < 0:
            segments = [s for column, pre in zip(self.columns, pres)
                        for s in cell_segments(console, Text.from_markup(column.label), column.width + 2 * PADDING,
                                               pre, post)]
            return self._line(segments, rest, width, scroll_x, base)
        key, cells = self._rows[index]
        pieces: list[CellRender] = []
        for column_index, (column, cell, pre) in enumerate(zip(self.columns, cells, pres)):
            cell_width = column.width + 2 * PADDING
            hit = self._cells.get((key, column_index))
            if hit is None or not (hit.pre is pre and hit.width == cell_width and same_cell(hit.cell, cell)):
                segments = cell_segments(console, cell, cell_width, pre, post)
                hit = CellRender(pre, cell_width, cell, segments, list(Segment.simplify(segments)))
                self._cells[(key, column_index)] = hit
            pieces.append(hit)
        if scroll_x == 0 and self.table_width <= width and _apart(pieces, rest):
            return Strip([s for hit in pieces for s in hit.joined] + [rest], width)
        return self._line([s for hit in pieces for s in hit.segments], rest, width, scroll_x, base)

    def _line(self, segments: list[Segment], rest: Segment, width: int, scroll_x: int, base: Style) -> Strip:
        """The cells' segments and the fill to the right edge, cropped to the view and joined."""
        segments.append(rest)
        cropped = line_crop(segments, scroll_x, scroll_x + width, width)
        return Strip(cropped).adjust_cell_length(width, base).simplify()

    def _row_styles(self, index: int, cursor: bool, base: Style) -> tuple[list[Style], Style, Style]:
        """The styles DataTable gives a row's cells (its row, the cell's `row`/`column` meta, the
        cursor), its fill to the right edge, and what it lays over the text (the cursor's colour)."""
        component = self.get_component_rich_style("table--cursor") if cursor else PLAIN
        post = Style.from_color(color=component.color) if cursor else NULL
        row_style = self.get_component_styles("table--header").rich_style if index < 0 else base
        hit = self._styles.get((index, cursor))
        if hit is None or hit[0] != (row_style, component, len(self.columns)):
            pres = [row_style + Style.from_meta({"row": index, "column": n}) + component for n in range(len(self.columns))]
            fill = row_style + component + Style.from_meta({"row": index, "column": 0, "out_of_bounds": True})
            hit = ((row_style, component, len(self.columns)), pres, fill)
            self._styles[(index, cursor)] = hit
        return hit[1], hit[2], post
