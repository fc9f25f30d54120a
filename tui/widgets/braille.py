"""One panel of curves drawn in braille: the curves joined dot to dot (2x4 dots a character
cell, each curve in its colour), framed, each vertical axis with its ticks and their values, the
step axis below with its ticks, each axis named under the frame. The curves panel
(tui/widgets/curves.py) draws its panels with it.

A drawing is lines of runs (text, 256-colour index or None), plain hashable values: the panel
keeps the rendered text of a line and reuses it while the line stays the same (a growing curve
under fixed axes changes one or two lines).

It replaced plotext, whose figure build cost ~20 ms of CPU a drawing (most of the control room's
drawing time with runs streaming): the same picture (frame, ticks, labels, braille lines) is
drawn here in about a tenth of that."""

from __future__ import annotations

import math
from dataclasses import dataclass

Run = tuple[str, int | None]  # text and its 256-colour index (None: the terminal's own)
Line = tuple[Run, ...]

# the bit of each dot of a braille cell, by [dot row][dot column] (U+2800 + the bits)
BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
BLANK = 0x2800
MAX_Y_TICKS = 5


@dataclass(frozen=True)
class Series:
    """One curve: its points (step, value) in step order, its colour and its axis's side."""
    xs: list[int]
    ys: list[float]
    colour: int
    side: str  # "left" or "right"


@dataclass(frozen=True)
class Axes:
    """The ranges shown (the step axis and each vertical axis drawn), where the step axis has
    its ticks, and the name of each axis (left, step, right)."""
    x: tuple[float, float]
    left: tuple[float, float]
    right: tuple[float, float] | None
    x_ticks: list[int]
    names: tuple[str, str, str]


def padded(lo: float, hi: float) -> tuple[float, float]:
    """A range that can be divided: a flat curve is drawn in the middle of a range around it."""
    if hi > lo:
        return lo, hi
    spare = abs(lo) * 0.1 or 1.0
    return lo - spare, hi + spare


def tick_rows(rows: int) -> list[int]:
    """The rows (from the top) where a vertical axis has a tick: up to five, spread evenly."""
    if rows < 2:
        return [0]
    n = max(2, min(MAX_Y_TICKS, (rows - 1) // 2 + 1))  # two rows apart at least
    return sorted({round(i * (rows - 1) / (n - 1)) for i in range(n)})


def tick_labels(values: list[float], step: float) -> list[str]:
    """The values written with one number of decimals, enough to tell ticks `step` apart."""
    biggest = max((abs(v) for v in values), default=0.0)
    if biggest >= 1e5 or 0 < biggest < 1e-3:  # one notation for the whole axis (`.3g` would mix 0.0003 and 7.06e-05)
        return [f"{v:.2e}" for v in values]
    decimals = 2 if step <= 0 else max(0, min(6, 1 - math.floor(math.log10(step))))
    labels = [f"{v:.{decimals}f}" for v in values]
    return [label[1:] if label.startswith("-") and float(label) == 0 else label for label in labels]


def y_ticks(span: tuple[float, float], rows: int) -> dict[int, str]:
    """Row -> the value written at that row's tick (the top row is the top of the range)."""
    lo, hi = span
    at = tick_rows(rows)
    values = [hi - (hi - lo) * (r / (rows - 1) if rows > 1 else 0.5) for r in at]
    step = (hi - lo) / max(1, len(at) - 1)
    return dict(zip(at, tick_labels(values, step)))


def draw(series: list[Series], axes: Axes, width: int, height: int) -> list[Line]:
    """The panel's `height` lines of `width` cells (fewer when the panel is too narrow to frame)."""
    rows = max(1, height - 4)  # the frame's top and bottom, the step ticks' values, the axes' names
    left = y_ticks(padded(*axes.left), rows)
    right = y_ticks(padded(*axes.right), rows) if axes.right is not None else {}
    lm = max(map(len, left.values()))
    rm = max(map(len, right.values()), default=0)
    cols = width - lm - rm - 2
    if cols < 2:
        return [((axes.names[0][:width], None),)]
    cells, colours = _plot(series, axes, cols, rows)
    lines: list[Line] = [((" " * lm + "┌" + "─" * cols + "┐" + " " * rm, None),)]
    for r in range(rows):
        runs: list[Run] = [(left.get(r, "").rjust(lm) + ("┤" if r in left else "│"), None)]
        runs += _cell_runs(cells[r * cols:(r + 1) * cols], colours[r * cols:(r + 1) * cols], cols)
        runs.append((("├" if r in right else "│") + right.get(r, "").ljust(rm), None))
        lines.append(_joined(runs))
    x_lo, x_hi = padded(*axes.x)
    at = {t: _dot(t, x_lo, x_hi, 2 * cols) // 2 for t in axes.x_ticks if x_lo <= t <= x_hi}
    bottom = ["─"] * cols
    for col in at.values():
        bottom[col] = "┬"
    lines.append(((" " * lm + "└" + "".join(bottom) + "┘" + " " * rm, None),))
    values = [" "] * width
    end = 0
    for tick, col in sorted(at.items(), key=lambda item: item[1]):
        text = str(tick)
        start = min(max(end, lm + 1 + col - (len(text) - 1) // 2), width - len(text))
        if start >= end:
            values[start:start + len(text)] = text
            end = start + len(text) + 1
    lines.append((("".join(values), None),))
    lines.append(((_names(axes.names, width), None),))
    return lines[:height]


def _names(names: tuple[str, str, str], width: int) -> str:
    """The left axis's name at the left, the step axis's in the middle, the right axis's at the
    right (moved aside, then cut, where they would meet)."""
    left, middle, right = names
    line = [" "] * width
    spots = [(0, left), ((width - len(middle)) // 2, middle), (width - len(right), right)]
    end = 0
    for start, text in spots:
        if not text:
            continue
        start = max(start, end)
        text = text[:max(0, width - start)]
        line[start:start + len(text)] = text
        end = start + len(text) + 1
    return "".join(line)[:width]


def _dot(v: float, lo: float, hi: float, dots: int) -> int:
    """The dot (0 .. dots-1) where `v` falls on an axis from `lo` to `hi`."""
    return min(dots - 1, max(0, round((v - lo) / (hi - lo) * (dots - 1))))


def _plot(series: list[Series], axes: Axes, cols: int, rows: int) -> tuple[list[int], list[int | None]]:
    """Each curve's dots joined by straight lines: each cell's dots and colour, row after row
    (the curve drawn last has a shared cell's colour)."""
    cells = [0] * (rows * cols)
    colours: list[int | None] = [None] * (rows * cols)
    x_lo, x_hi = padded(*axes.x)
    width_dots, height_dots = 2 * cols, 4 * rows
    x_scale = (width_dots - 1) / (x_hi - x_lo)
    for s in series:
        y_lo, y_hi = padded(*(axes.right if s.side == "right" and axes.right is not None else axes.left))
        y_scale = (height_dots - 1) / (y_hi - y_lo)
        colour = s.colour
        last_x = last_y = -1
        for x, y in zip(s.xs, s.ys):
            dx = min(width_dots - 1, max(0, round((x - x_lo) * x_scale)))
            dy = min(height_dots - 1, max(0, round((y_hi - y) * y_scale)))
            steps = 0 if last_x < 0 else max(abs(dx - last_x), abs(dy - last_y))
            if steps <= 1:
                at = (dy >> 2) * cols + (dx >> 1)
                cells[at] |= BITS[dy & 3][dx & 1]
                colours[at] = colour
            else:  # the dots between, one a step along the longer side
                for i in range(1, steps + 1):
                    px = last_x + ((dx - last_x) * 2 * i + steps) // (2 * steps)
                    py = last_y + ((dy - last_y) * 2 * i + steps) // (2 * steps)
                    at = (py >> 2) * cols + (px >> 1)
                    cells[at] |= BITS[py & 3][px & 1]
                    colours[at] = colour
            last_x, last_y = dx, dy
    return cells, colours


def _cell_runs(cells: list[int], colours: list[int | None], cols: int) -> list[Run]:
    """One row of the plot as runs of one colour (blank cells in the terminal's own)."""
    if not any(cells):
        return [(" " * cols, None)]
    runs: list[Run] = []
    start = 0
    for col in range(1, cols + 1):
        if col == cols or colours[col] != colours[start]:
            runs.append(("".join(chr(BLANK + bits) if bits else " " for bits in cells[start:col]), colours[start]))
            start = col
    return runs


def _joined(runs: list[Run]) -> Line:
    """Neighbouring runs of one colour as one run."""
    out: list[Run] = []
    for text, colour in runs:
        if out and out[-1][1] == colour:
            out[-1] = (out[-1][0] + text, colour)
        else:
            out.append((text, colour))
    return tuple(out)
