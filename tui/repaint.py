"""What the control room writes to the terminal: only the changed span of each line.

Textual's partial update (`ChopsUpdate.render_segments`, Textual 8) writes each changed line
from the left edge of the widget that changed up to the right end of the change: the queue,
whose elapsed time and ETA (its last columns) tick each second, resent every running row whole,
about 75 % of the bytes the control room wrote with four runs streaming at 160x50. `install()`
has it start at the change as well (each widget's strip cropped on both sides), which is what a
slow SSH link pays for. It is installed once, when the app is imported; a Textual whose update
is not shaped like this one (no `chops`, `spans`, `chop_ends`) keeps its own.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.control import Control

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
    _installed = True
    return True
