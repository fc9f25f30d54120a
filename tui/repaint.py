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
        first_cut, last_cut = shown.column_span
        for y0, count in _runs([y for y in shown.line_range if y in lines]):
            strips = widget.render_lines(Region(shown.x - region.x, y0 - region.y, shown.width, count))
            for y, strip in zip(range(y0, y0 + count), strips):
                line = chops[y]
                final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                for cut, piece in zip(final_cuts, strip.divide([cut - shown.x for cut in final_cuts[1:]])):
                    if line.get(cut) is None:  # the first widget painted at a cut wins
                        line[cut] = piece
    return chops


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
