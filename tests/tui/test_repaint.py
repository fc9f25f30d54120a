"""What the control room sends the terminal on a partial update: only the changed lines are
rendered (each widget asked for its changed lines, not all of them) and they are painted as
Textual paints them."""

from __future__ import annotations

from typing import Any

from textual._compositor import Compositor
from textual.geometry import Region
from textual.widget import Widget

from tests.tui.support import ready, settle
from tui.repaint import _runs, render_chops
from tui.widgets.queue_table import QueueTable


def test_runs_of_consecutive_lines():
    assert list(_runs([])) == []
    assert list(_runs([3])) == [(3, 1)]
    assert list(_runs([1, 2, 3, 7, 9, 10])) == [(1, 3), (7, 1), (9, 2)]


def plain(chops: list[dict[int, Any]]) -> list[dict[int, Any]]:
    return [{cut: None if strip is None else list(strip) for cut, strip in line.items()} for line in chops]


async def test_a_partial_update_renders_only_the_changed_lines_and_paints_what_textual_paints(lab, app_factory,
                                                                                              monkeypatch):
    app = app_factory(lab, refresh_s=60)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await settle(pilot)
        compositor = app.screen._compositor
        original = Compositor._render_chops.original  # type: ignore[attr-defined]
        asked: list[tuple[str, int]] = []
        render_lines = Widget.render_lines

        def counted(widget: Widget, crop: Region) -> Any:
            asked.append((type(widget).__name__, crop.height))
            return render_lines(widget, crop)

        monkeypatch.setattr(Widget, "render_lines", counted)
        cases = [[Region(0, 2, 160, 1)], [Region(5, 8, 30, 2), Region(80, 40, 20, 3)], [Region(3, 30, 1, 1)],
                 [Region(0, 0, 160, 50)], [Region(150, 45, 30, 30)]]
        for regions in cases:
            app.screen.query_one(QueueTable).refresh()  # dirty lines too, not only cached ones
            crop = Region.from_union(regions).intersection(compositor.size.region)
            lines = {y for y, _, _ in compositor._regions_to_spans(regions) if y < compositor.size.height}
            asked.clear()
            mine = render_chops(compositor, crop, lines)
            mine_asked = sum(n for _, n in asked)
            asked.clear()
            theirs = original(compositor, crop, lines.__contains__)
            assert plain(mine) == plain(theirs), regions
            assert all(line.get(cut) is not None for y in lines for line in [mine[y]] for cut in line), \
                "every cut of a changed line is painted"
            if len(lines) < 10:
                assert mine_asked < sum(n for _, n in asked) / 5, (mine_asked, asked)
        # the app's partial updates go through it
        assert Compositor._render_chops is not original


async def test_a_partial_update_asks_only_the_widgets_that_paint_a_dirty_span_and_writes_what_textual_writes(
        lab, app_factory, monkeypatch):
    from textual._compositor import ChopsUpdate

    from tui.repaint import render_segments, render_span_chops

    app = app_factory(lab, refresh_s=60)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot)
        await settle(pilot)
        compositor = app.screen._compositor
        original = Compositor._render_chops.original  # type: ignore[attr-defined]
        console = app.console
        asked: list[str] = []
        render_lines = Widget.render_lines

        def counted(widget: Widget, crop: Region) -> Any:
            asked.append(type(widget).__name__)
            return render_lines(widget, crop)

        monkeypatch.setattr(Widget, "render_lines", counted)
        table = app.screen.query_one(QueueTable)
        cell = Region(table.region.x + 5, table.region.y + 1, 4, 1)  # inside the queue
        cases = [[cell], [Region(0, 2, 160, 1)], [Region(5, 8, 30, 2), Region(80, 40, 20, 3)],
                 [Region(3, 30, 1, 1)], [Region(0, 0, 160, 50)], [Region(150, 45, 10, 5), Region(0, 45, 2, 5)],
                 [Region(79, 10, 3, 20)]]
        for regions in cases:
            table.refresh()  # dirty lines too, not only cached ones
            crop = Region.from_union(regions).intersection(compositor.size.region)
            spans = [s for s in compositor._regions_to_spans(regions) if s[0] < compositor.size.height]
            ends = [cut_set[1:] for cut_set in compositor.cuts]
            asked.clear()
            mine = render_span_chops(compositor, crop, spans)
            mine_asked = list(asked)
            asked.clear()
            theirs = original(compositor, crop, {y for y, _, _ in spans}.__contains__)
            written = render_segments(ChopsUpdate(mine, spans, ends), console)
            assert written == render_segments(ChopsUpdate(theirs, spans, ends), console), regions
            assert list(console.render(ChopsUpdate(mine, spans, ends))) == \
                list(console.render(ChopsUpdate(theirs, spans, ends))), regions  # Textual's own writer too
            assert len(mine_asked) <= len({*asked}) * max(1, len(spans)), (mine_asked, asked)
            if regions == [cell]:
                assert mine_asked == ["QueueTable"], mine_asked  # not the panels, the screen, the dialogue
        # the app's partial updates go through it
        assert getattr(Compositor.render_partial_update, "original", None) is not None
