"""Which cells of a one-line text changed: the spans a widget marks dirty when one of its lines
is replaced, so that only those cells are written to the terminal (tui/repaint.py writes each
dirty span, cropped from the widget's line) instead of the whole line.

The gauges' CPU line changes its bar and its value each second, the curves a few braille cells
at a curve's right end: marking the whole line sent ~160 cells for a few that changed."""

from __future__ import annotations

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

GAP = 6  # changed cells this close are one span (a cursor move costs about as many bytes)


def cells(text: Text) -> list[tuple[str, Style | str | None]]:
    """Each character with the style of the last span over it (the text's own style aside)."""
    styles: list[Style | str | None] = [None] * len(text.plain)
    for span in text.spans:
        styles[span.start:span.end] = [span.style] * (min(span.end, len(styles)) - span.start)
    return list(zip(text.plain, styles))


def changed_spans(before: Text, after: Text, width: int) -> list[tuple[int, int]]:
    """(start, end) of each run of changed cells between two versions of a line `width` cells
    wide (the whole line where a character is wider than one cell, a text is cut at the
    width or the texts' own styles differ); nothing when they look the same."""
    if before.style != after.style or any(cell_len(t.plain) != len(t.plain) or len(t.plain) > width
                                          for t in (before, after)):
        return [(0, width)]
    old, new = cells(before), cells(after)
    longest = max(len(old), len(new))
    blank = (" ", None)
    spans: list[tuple[int, int]] = []
    for x in range(min(longest, width)):
        if (old[x] if x < len(old) else blank) != (new[x] if x < len(new) else blank):
            if spans and x - spans[-1][1] < GAP:
                spans[-1] = (spans[-1][0], x + 1)
            else:
                spans.append((x, x + 1))
    return spans
