"""The light table draws what Textual's DataTable draws (segment for segment, styles and meta
included), moves its cursor as DataTable does, and its fast cell path equals Rich's own."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from tui.widgets.light_table import Column, LightTable, _rich_cell, cell_segments

COLUMNS = [Column("id", "id", 4), Column("name", "experiment / run", 18), Column("state", "[b]state[/b]", 9),
           Column("progress", "progress", 12), Column("eta", "ETA", 3)]


def cells(n: int) -> tuple[Text, ...]:
    name = Text(f"experiment number {n} with a long name", no_wrap=True, overflow="ellipsis")
    name.append(" entry", style="dim")
    state = Text("▶ running" if n % 2 else "✓ done", style="green" if n % 2 else "bold red")
    progress = Text("████▍     ", style="blue")
    progress.append(f" {n}/9")
    return (Text(f"#{n}"), name, state, progress, Text("漢字漢字" if n == 3 else f"{n}m"))


ROWS = [(f"k{n}", cells(n)) for n in range(12)]


def test_the_fast_cell_path_equals_rich():
    console = Console(width=120, color_system="truecolor")
    pre = Style(color="white", bgcolor="black") + Style.from_meta({"row": 1, "column": 2})
    cursor = Style(color="black", bgcolor="yellow", bold=True)
    samples = [Text(""), Text("x"), Text("exactly10!"), Text("one that is much too long for it"),
               Text("ellipsis that is too long", overflow="ellipsis"), Text("crop it now please", overflow="crop"),
               Text("dim", style="dim"), Text("", style="bold"), Text("漢字漢字漢字"), Text("a漢字漢字漢字"),
               Text.from_markup("[red]red[/red] and [b]bold [i]both[/i][/b]"), Text("tab\there"), Text("two\nlines"),
               *cells(1), *cells(3)]
    for cell in samples:
        for width in (3, 4, 7, 12, 40):
            for pre_style, post_style in ((pre, Style.null()), (pre + cursor, Style.from_color(color=cursor.color)),
                                          (Style.null(), Style.null())):
                fast = cell_segments(console, cell, width, pre_style, post_style)
                assert fast == _rich_cell(console, cell, width, pre_style, post_style), (cell, width)
                assert sum(cell_len(s.text) for s in fast) == width


class Pair(App[None]):
    CSS = "DataTable, LightTable { height: 7; }"

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", id="dt")
        yield LightTable(id="lt")

    def on_mount(self) -> None:
        dt, lt = self.query_one(DataTable), self.query_one(LightTable)
        for c in COLUMNS:
            dt.add_column(c.label, width=c.width, key=c.key)
        for key, row in ROWS:
            dt.add_row(*row, key=key)
        lt.set_columns(COLUMNS)
        lt.set_rows(list(ROWS))


def lines(widget: DataTable | LightTable) -> list[list[object]]:
    widget._styles_cache.clear()
    return [list(strip) for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))]


async def test_the_light_table_draws_what_datatable_draws():
    app = Pair()
    for width in (60, 44):  # wider than the table (a fill to the edge), narrower (cropped)
        async with app.run_test(size=(width, 20)) as pilot:
            dt, lt = app.query_one(DataTable), app.query_one(LightTable)
            await pilot.pause()
            app.set_focus(None)
            await pilot.pause()
            assert dt.size == lt.size
            assert lines(lt) == lines(dt), "unfocused, the cursor on the first row"
            for row in (2, 11, 5):  # the last row scrolls the table
                dt.move_cursor(row=row)
                lt.move_cursor(row=row)
                await pilot.pause()
                assert (lt.scroll_y, lt.cursor_row) == (dt.scroll_y, dt.cursor_row)
                dt.focus()
                await pilot.pause()
                focused = lines(dt)
                lt.focus()
                await pilot.pause()
                assert lines(lt) == focused, f"focused, the cursor on row {row}"
        app = Pair()


async def test_keys_and_clicks_move_the_cursor_as_in_datatable():
    app = Pair()
    async with app.run_test(size=(60, 20)) as pilot:
        dt, lt = app.query_one(DataTable), app.query_one(LightTable)
        await pilot.pause()
        for action in ("cursor_down", "cursor_down", "page_down", "page_down", "cursor_up", "page_up",
                       "scroll_bottom", "cursor_down", "scroll_top", "cursor_up", "page_down"):
            getattr(dt, f"action_{action}")()
            getattr(lt, f"action_{action}")()
            await pilot.pause()
            assert (lt.cursor_row, lt.scroll_y) == (dt.cursor_row, dt.scroll_y), action
        lt.move_cursor(row=0)
        await pilot.pause()
        await pilot.click(LightTable, offset=(3, 3))  # the header, then rows 0, 1, 2
        await pilot.pause()
        assert lt.cursor_row == 2
        await pilot.click(LightTable, offset=(3, 0))
        assert lt.cursor_row == 2, "a click on the header moves nothing"


async def test_rows_replaced_keep_the_cursor_on_its_row():
    moved: list[int] = []

    class Table(LightTable):
        def cursor_moved(self) -> None:
            moved.append(self.cursor_row)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Table()

    app = One()
    async with app.run_test(size=(60, 20)) as pilot:
        lt = app.query_one(Table)
        lt.set_columns(COLUMNS)
        lt.set_rows(list(ROWS))
        lt.move_cursor(row=4)
        await pilot.pause()
        lt.set_rows([row for row in ROWS if row[0] not in ("k1", "k2")])
        assert lt.cursor_row == 2 and lt._rows[2][0] == "k4", "the same row, at its new place"
        lt.set_rows([row for row in ROWS if row[0] != "k4"])
        assert lt.cursor_row == 2 and lt._rows[2][0] == "k2", "its row gone: the same place"
        assert moved[-2:] == [2, 2], "a new row under the cursor is announced"
        assert lt.get_row("k5")[0].plain == "#5" and lt.row_count == 11
        lt.clear()
        assert lt.row_count == 0 and lt.cursor_row == 0
