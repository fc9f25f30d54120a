"""A table whose columns widen as rows arrive draws its header at the new widths, whenever the
screen painted it: Textual measures new rows on the table's next idle, and a header drawn
before that (the screen painting between `add_row` and the idle, as the detail screen's first
refresh could) stayed in its caches at the labels' widths (issue 28: the detail snapshot)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Region

from db import Run, RunState
from tui.widgets.runs_table import COLUMNS, RunsTable


class OneTable(App[None]):
    CSS = "RunsTable { height: 8; }"

    def compose(self) -> ComposeResult:
        yield RunsTable()


def header(table: RunsTable) -> str:
    return table.render_lines(Region(0, 0, table.size.width, 1))[0].text


def wanted(table: RunsTable) -> str:
    """The header line at the columns' present widths (each label padded to its column)."""
    return "".join(f" {c.label.plain.ljust(c.content_width)} " for c in table.ordered_columns)


async def test_a_header_drawn_before_the_rows_are_measured_is_drawn_again() -> None:
    runs = [Run(id=11, experiment_id=4, catalog="mixed_precision", variant="fp32 (a long variant name)", seed=0,
                status=RunState.RUNNING, params={}, variant_params={}, depends_on=[], attempt=1, max_attempts=2,
                device="cpu0", started_at=100.0)]
    async with OneTable().run_test(size=(160, 12)) as pilot:
        table = pilot.app.query_one(RunsTable)
        await pilot.pause()
        assert header(table).startswith(wanted(table)), "the labels' widths before any row"
        table.show(runs, now=160.0)
        before = header(table)  # the screen paints the header before the table's idle measured the row
        assert before.startswith(wanted(table))
        await pilot.pause()
        assert [c.content_width for c in table.ordered_columns][1] == len("fp32 (a long variant name)"), \
            "the row was measured: the variant column widened"
        assert header(table).startswith(wanted(table)), f"the header at the new widths, not {before!r}"
        assert table.render_lines(Region(0, 1, table.size.width, 1))[0].text.startswith(
            " 11   fp32 (a long variant name) "), "the row under it at the same widths"
        assert [c.key.value for c in table.ordered_columns] == COLUMNS
