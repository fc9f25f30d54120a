"""Which cells of a one-line text changed: the spans a widget marks dirty when one of its lines
is replaced, so that only those cells are written to the terminal (tui/repaint.py writes each
dirty span, cropped from the widget's line) instead of the whole line.

The gauges' CPU line changes its bar and its value each second, the curves a few braille cells
at a curve's right end: marking the whole line sent ~160 cells for a few that changed."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import repeat

from rich.cells import cell_len
from rich.text import Text

GAP = 6  # changed cells this close are one span (a cursor move costs about as many bytes)
BLANK: tuple[str, Hashable] = (" ", None)  # a cell past a line's end


def cells(text: Text) -> list[tuple[str, Hashable]]:
    """Each character with the style of the last span over it (the text's own style aside)."""
    styles: list[Hashable] = [None] * len(text.plain)
    for span in text.spans:
        styles[span.start:span.end] = [span.style] * (min(span.end, len(styles)) - span.start)
    return list(zip(text.plain, styles))


def run_cells(runs: Sequence[tuple[str, Hashable]]) -> list[tuple[str, Hashable]]:
    """Each character of runs of (text, style) with its run's style."""
    out: list[tuple[str, Hashable]] = []
    for text, style in runs:
        out += zip(text, repeat(style))
    return out


def changed_spans(before: Text, after: Text, width: int) -> list[tuple[int, int]]:
    """(start, end) of each run of changed cells between two versions of a line `width` cells
    wide (the whole line where a character is wider than one cell, a text is cut at the
    width or the texts' own styles differ); nothing when they look the same."""
    if before.style != after.style or not (fits(before.plain, width) and fits(after.plain, width)):
        return [(0, width)]
    return spans_between(cells(before), cells(after), width)


def changed_run_spans(before: Sequence[tuple[str, Hashable]], after: Sequence[tuple[str, Hashable]],
                      width: int) -> list[tuple[int, int]]:
    """`changed_spans` of two lines given as runs of (text, style)."""
    if not (fits("".join(t for t, _ in before), width) and fits("".join(t for t, _ in after), width)):
        return [(0, width)]
    return spans_between(run_cells(before), run_cells(after), width)


def fits(text: str, width: int) -> bool:
    """One cell a character, and no wider than the line."""
    return len(text) <= width and (text.isascii() or cell_len(text) == len(text))


def spans_between(old: list[tuple[str, Hashable]], new: list[tuple[str, Hashable]], width: int) -> list[tuple[int, int]]:
    """(start, end) of each run of cells that differ (runs closer than `GAP` joined)."""
    if len(old) < len(new):
        old = old + [BLANK] * (len(new) - len(old))
    elif len(new) < len(old):
        new = new + [BLANK] * (len(old) - len(new))
    spans: list[tuple[int, int]] = []
    for x, (a, b) in enumerate(zip(old[:width], new[:width])):
        if a != b:
            if spans and x - spans[-1][1] < GAP:
                spans[-1] = (spans[-1][0], x + 1)
            else:
                spans.append((x, x + 1))
    return spans
