"""What the control room writes to the terminal: only the changed span of each line.

Textual's partial update (`ChopsUpdate.render_segments`, Textual 8) writes each changed line
from the left edge of the widget that changed up to the right end of the change: the queue,
whose elapsed time and ETA (its last columns) tick each second, resent every running row whole,
about 75 % of the bytes the control room wrote with four runs streaming at 160x50. `install()`
has it start at the change as well (each widget's strip cropped on both sides), which is what a
slow SSH link pays for.

Textual also renders a partial update over one region around all the changes
(`Compositor.render_partial_update`): with the status line (top), the queue's rows and the
curves (bottom) changing in the same second, every widget of the screen had all its lines
processed again (its cached lines cropped and filtered, each panel, the screen's background),
about a fifth of the control room's CPU, to paint a dozen lines. `render_chops` asks each widget
only for its lines that changed (the same strips, painted front to back as Textual does).

Even on a changed line most widgets paint nothing that is written: the queue's ticking cells
changed, and the dialogue beside the queue, the panels' borders, the containers and the screen's
background were rendered on those lines to be thrown away (two thirds of the widgets asked each
second, `benchmarks/tui_profile.py`). `render_span_chops` asks a widget for a line only where a
part of it that no widget in front painted lies in one of the line's dirty spans: what is
written is the same (each written part is painted by the front-most widget there, as before),
the parts not written are left unpainted (`None`, which both of Textual's writers skip).

Both are installed once, when the app is imported; a Textual whose compositor or update is not
shaped like these (no `chops`, `spans`, `chop_ends`; no `cuts`, `visible_widgets`) keeps its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.control import Control
from textual.geometry import Region
from textual.strip import Strip

_installed = False


def render_segments(update: Any, console: Console) -> str:
    """The terminal data of one partial update: for each dirty span (y, x1, x2) of a line, the
    part of each widget's strip that lies inside the span, each after a cursor move."""
    sequences: list[str] = []
    append = sequences.append
    move_to = Control.move_to
    chops, chop_ends = update.chops, update.chop_ends
    last_y = update.spans[-1][0]
    for y, x1, x2 in update.spans:
        for end, (x, strip) in zip(chop_ends[y], chops[y].items()):
            if strip is None or x >= x2 or end <= x1:
                continue
            start = max(x, x1)
            if start > x or end > x2:
                strip = strip.crop(start - x, min(end, x2) - x)
            append(move_to(start, y).segment.text)
            append(strip.render(console))
        if y != last_y:
            append("\n")
    return "".join(sequences)


def render_chops(compositor: Any, crop: Region, lines: set[int]) -> list[dict[int, Strip | None]]:
    """`Compositor._render_chops(crop, lines.__contains__)`, each widget asked only for its
    lines in `lines` (in runs of consecutive lines) instead of for all its lines."""
    cuts = compositor.cuts
    chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
    for widget, (region, clip) in compositor.visible_widgets.items():  # front to back
        if not crop.overlaps(clip):
            continue
        shown = region.intersection(clip)
        if not (shown.width and shown.height):
            continue
        _paint(widget, region, shown, [y for y in shown.line_range if y in lines], cuts, chops)
    return chops


def render_span_chops(compositor: Any, crop: Region, spans: list[tuple[int, int, int]]) -> list[dict[int, Strip | None]]:
    """`render_chops` for a partial update's dirty spans (y, x1, x2): a widget is asked for line y
    only when one of its parts there (between two cuts) is not painted yet by a widget in front
    and lies in a span of y; the parts outside every span are not written, and may stay `None`."""
    cuts = compositor.cuts
    chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
    at: dict[int, list[tuple[int, int]]] = {}
    for y, x1, x2 in spans:
        at.setdefault(y, []).append((x1, x2))
    # per dirty line, the parts (by their first cut) that lie in one of its spans
    written = {y: [start for start, end in zip(cuts[y], cuts[y][1:]) if any(x1 < end and start < x2 for x1, x2 in line)]
               for y, line in at.items() if y < len(cuts)}
    for widget, (region, clip) in compositor.visible_widgets.items():  # front to back
        if not crop.overlaps(clip):
            continue
        shown = region.intersection(clip)
        if not (shown.width and shown.height):
            continue
        first_cut, last_cut = shown.column_span
        wanted = [y for y in shown.line_range if y in written
                  and any(first_cut <= cut < last_cut and chops[y][cut] is None for cut in written[y])]
        _paint(widget, region, shown, wanted, cuts, chops)
    return chops


def _paint(widget: Any, region: Region, shown: Region, ys: list[int], cuts: list[list[int]],
           chops: list[dict[int, Strip | None]]) -> None:
    """Ask `widget` for its lines `ys` (in runs) and place each piece between two cuts where no
    widget in front painted yet (the first widget painted at a cut wins)."""
    first_cut, last_cut = shown.column_span
    for y0, count in _runs(ys):
        strips = widget.render_lines(Region(shown.x - region.x, y0 - region.y, shown.width, count))
        for y, strip in zip(range(y0, y0 + count), strips):
            line = chops[y]
            final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
            for cut, piece in zip(final_cuts, strip.divide([cut - shown.x for cut in final_cuts[1:]])):
                if line.get(cut) is None:
                    line[cut] = piece


def _runs(ys: list[int]) -> Iterator[tuple[int, int]]:
    """(first, count) of each run of consecutive numbers in the sorted `ys`."""
    start = previous = None
    for y in ys:
        if start is None or previous is None or y != previous + 1:
            if start is not None and previous is not None:
                yield start, previous - start + 1
            start = y
        previous = y
    if start is not None and previous is not None:
        yield start, previous - start + 1


def install() -> bool:
    """Use `render_segments` for Textual's partial updates; False where Textual's differ."""
    global _installed
    if _installed:
        return True
    try:
        from textual._compositor import ChopsUpdate
    except ImportError:  # pragma: no cover - another Textual
        return False
    original = getattr(ChopsUpdate, "render_segments", None)
    if original is None or not {"chops", "spans", "chop_ends"} <= set(ChopsUpdate.__init__.__code__.co_names):
        return False  # pragma: no cover - another Textual

    def patched(self: Any, console: Console) -> str:
        return render_segments(self, console)

    patched.__doc__ = original.__doc__
    ChopsUpdate.render_segments = patched  # type: ignore[method-assign]
    _install_chops()
    _install_partial_update()
    _installed = True
    return True


def _install_chops() -> None:
    """Have the compositor's partial updates render through `render_chops`."""
    from textual._compositor import Compositor

    render = getattr(Compositor, "_render_chops", None)
    if render is None or render.__code__.co_varnames[:3] != ("self", "crop", "is_rendered_line") \
            or not {"cuts", "_get_renders"} <= set(render.__code__.co_names) \
            or not isinstance(getattr(Compositor, "visible_widgets", None), property):
        return  # pragma: no cover - another Textual

    def patched(self: Any, crop: Region, is_rendered_line: Any) -> list[dict[int, Strip | None]]:
        lines = getattr(is_rendered_line, "__self__", None)  # render_partial_update's `set.__contains__`
        if not isinstance(lines, set):  # pragma: no cover - called otherwise
            return render(self, crop, is_rendered_line)  # type: ignore[no-any-return]
        return render_chops(self, crop, lines)

    patched.__doc__ = render.__doc__
    patched.original = render  # type: ignore[attr-defined]
    Compositor._render_chops = patched  # type: ignore[method-assign,assignment]


def _install_partial_update() -> None:
    """Have the compositor's partial updates paint through `render_span_chops`."""
    from textual._compositor import ChopsUpdate, Compositor

    update = getattr(Compositor, "render_partial_update", None)
    if update is None or not {"_dirty_regions", "_regions_to_spans", "_render_chops", "cuts", "ChopsUpdate"} \
            <= set(update.__code__.co_names) or not hasattr(Compositor, "_regions_to_spans"):
        return  # pragma: no cover - another Textual

    def patched(self: Any) -> Any:
        update_regions = self._dirty_regions.copy()
        self._dirty_regions.clear()
        if not update_regions:
            return None
        crop = Region.from_union(update_regions).intersection(self.size.region)
        spans = list(self._regions_to_spans(update_regions))
        chops = render_span_chops(self, crop, spans)
        return ChopsUpdate(chops, spans, [cut_set[1:] for cut_set in self.cuts])

    patched.__doc__ = update.__doc__
    patched.original = update  # type: ignore[attr-defined]
    Compositor.render_partial_update = patched  # type: ignore[method-assign]
