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
