"""Live curves of one run, drawn in braille (tui/widgets/braille.py): each kind of metric (loss,
accuracy, learning rate, ...) on its own labelled axis, two kinds a panel (left and right), the
step axis below; a run of several consecutive trainings (a learning-rate sweep, marked by the
`training` metric) draws each training as its own series from step 0, coloured and named by its
learning rate. The drawing is cached and rebuilt only when points arrive or the widget is
resized; long curves are thinned to what the width can show.

A live curve is redrawn at most every `every_s` seconds (`[tui] curves_s`), and only when what
arrived shows: points that move the right end by at least one braille dot column, a new key, or
else after `STALE_S`; only the lines that changed are repainted. While the widget is not on
screen (another tab, another screen) Textual does not render it, so nothing is drawn until it is
shown again.

The widget draws line by line (`render_line`): a drawing's lines are kept, a line that is the
same as in the last drawing keeps its text and its rendered strip, so a redraw renders only the
lines that changed (a growing curve under fixed axes: one or two), not the whole panel."""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

from contract.runfiles import TRAINING_METRIC
from tui.widgets.braille import Axes, Line, Series, draw
from tui.widgets.curve_series import Curves, kind, last_step, panels, pick_keys, split, thin, training_starts
from tui.widgets.line_diff import changed_run_spans, changed_spans
from tui.widgets.styling import ComponentStyles

PALETTE = (39, 208, 42, 199, 226, 141)   # 256-colour indices, one per curve

PANEL_MIN_ROWS = 8
STALE_S = 30.0     # a live curve whose new points do not show is still redrawn this often


def on_row(strip: Strip, y: int) -> Strip:
    """A line rendered on its own, as row `y` of the whole: Textual marks each cell with its text
    offset (x, y) for selecting text, and a line alone is row 0."""
    if y == 0:
        return strip
    segments = []
    for text, style, control in strip:
        offset = style.meta.get("offset") if style is not None and style._meta else None
        if style is not None and offset is not None:
            style += Style.from_meta({"offset": (offset[0], y)})
        segments.append(Segment(text, style, control))
    return Strip(segments, strip.cell_length)


class CurvePlot(ComponentStyles, Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"curves--dim", "curves--title"}

    def __init__(self, empty_text: str = "no curves yet", *, every_s: float = 0.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.empty_text = empty_text
        self.every_s = every_s
        self.curves: Curves = {}
        self.title = ""
        self._version = 0
        self._cache: tuple[tuple[int, int, int], list[Text]] | None = None  # (version, size): the lines drawn
        self._texts: dict[Line, Text] = {}  # the last drawing's plot lines, by what each shows
        self._keys: dict[int, Line] = {}  # what each of those shows, by the id of its text
        self._strips: dict[int, Strip] = {}  # rendered lines of the drawing in `_cache`
        self._strips_for: tuple[Any, ...] | None = None  # (width, style) they were rendered at
        self._drawn: tuple[float, list[str], int, int] | None = None  # when, keys, first and last step
        self._extents: dict[str, tuple[float, float]] = {}  # axis ("x", "left", "right") -> range shown
        # (panel, key, training) -> (its points, (first step, stride), points scanned, points kept)
        self._grid: dict[tuple[int, str, int], tuple[list[tuple[int, float]], tuple[int, int], int,
                                                        list[tuple[int, float]]]] = {}
        self._timer: Any = None

    def set_curves(self, curves: Curves, title: str) -> None:
        """Show these curves (the caller owns the dict and calls `touched` when it grows); a new
        run's curves are drawn at once."""
        self.curves, self.title = curves, title
        self._drawn = None
        self._extents = {}
        self._grid = {}
        self._redraw()

    def touched(self) -> None:
        """The curves grew: redrawn now, or when `_wait` says (one pending redraw at most)."""
        wait = self._wait()
        if wait <= 0:
            self._redraw()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._due, name="curves")

    def due(self) -> bool:
        """Would points that arrived now be drawn at once (the last drawing is `every_s` old, or
        there is none)? Until then the caller need not read them."""
        return self._drawn is None or time.monotonic() - self._drawn[0] >= self.every_s

    def _wait(self) -> float:
        """Seconds until the curves should be drawn again (0: now)."""
        if self._drawn is None:
            return 0.0
        drawn_at, keys, first, last = self._drawn
        age = time.monotonic() - drawn_at
        span = max(1, last - first)
        shows = pick_keys(self.curves) != keys or (last_step(self.curves) - last) * 2 * max(1, self.size.width) >= span
        return max(0.0, (self.every_s if shows else STALE_S) - age)

    def _due(self) -> None:
        self._timer = None
        self.touched()

    def _redraw(self) -> None:
        """Draw again: at once and only the cells that changed while the plot is on screen at
        the size it was drawn at (a growing curve under fixed axes changes a few cells of one or
        two lines), else whole, when Textual next shows it."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._version += 1
        width, height = self.size.width, self.size.height
        old = self._cache
        if old is None or old[0][1:] != (width, height) or not (self.is_on_screen and self.screen.is_current):
            self.refresh()
            return
        keys = self._keys  # of the old drawing, whose texts live on in `old` meanwhile
        before, after = old[1], self._draw(width, height)
        self._cache = ((self._version, width, height), after)
        regions = []
        for y in range(max(len(before), len(after))):
            if y < len(before) and y < len(after) and before[y] is after[y]:
                continue
            old_key = keys.get(id(before[y])) if y < len(before) else ()
            new_key = self._keys.get(id(after[y])) if y < len(after) else ()
            if old_key is not None and new_key is not None:  # plot lines: compared by their runs
                spans = changed_run_spans(old_key, new_key, width)
            else:
                spans = changed_spans(before[y] if y < len(before) else Text(),
                                      after[y] if y < len(after) else Text(), width)
            if spans:
                self._strips.pop(y, None)
                regions += [Region(x1, y, x2 - x1, 1) for x1, x2 in spans]
        if regions:
            self.refresh(*regions)

    def _lines(self, width: int, height: int) -> list[Text]:
        """The lines of the drawing at this size (drawn again when the curves or the size changed)."""
        key = (self._version, width, height)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._draw(width, height))
            self._strips = {}
        return self._cache[1]

    def render(self) -> Text:
        lines = self._lines(self.size.width, self.size.height)
        return lines[0] if len(lines) == 1 else Text("\n", no_wrap=True).join(lines)

    def render_line(self, y: int) -> Strip:
        """Line `y` as Textual would cut it from the whole drawing (`render`), rendered once per
        drawing where the line changed (the whole drawing at once when most lines changed)."""
        width, height = self.size.width, self.size.height
        lines = self._lines(width, height)
        style = self.visual_style
        if self.text_selection is not None:  # a selection spans lines: the whole drawing, as Textual does
            strips = Visual.to_strips(self, visualize(self, self.render()), width, height, style)
            return strips[y] if y < len(strips) else Strip.blank(width, style.rich_style)
        if self._strips_for != (width, style):
            self._strips_for, self._strips = (width, style), {}
        strip = self._strips.get(y)
        if strip is None:
            if len(lines) - len(self._strips) > len(lines) // 4:  # most lines are new: all at once is cheaper
                self._strips = dict(enumerate(Visual.to_strips(self, visualize(self, self.render()), width, height,
                                                               style)))
                strip = self._strips.get(y)
            elif y < len(lines):
                strip = on_row(Visual.to_strips(self, visualize(self, lines[y]), width, 1, style)[0], y)
            if strip is None:
                strip = Strip.blank(width, style.rich_style)
            self._strips[y] = strip
        return strip

    def _draw(self, width: int, height: int) -> list[Text]:
        dim = self.cstyle("curves--dim")
        keys = pick_keys(self.curves)
        starts = training_starts(self.curves)
        head = Text(no_wrap=True, overflow="ellipsis")
        if self.title:
            head.append(self.title + "  ", style=self.cstyle("curves--title"))
        if not keys or height < 4 or width < 20:
            head.append(self.empty_text if not keys else "(too small to draw)", style=dim)
            return [head]
        shown = panels(keys)
        room = max(1, min(len(shown), (height - 1) // PANEL_MIN_ROWS))
        hidden = [kind(k) for left, right in shown[room:] for k in left[:1] + right[:1]]
        shown = shown[:room]
        if len(starts) > 1:  # each training its colour, named by its peak learning rate where known
            for i, label in enumerate(self._training_labels(starts)):
                head.append("━━ ", style=Style(color=f"color({PALETTE[i % len(PALETTE)]})"))
                head.append(f"{label}  ")
            head.append(f"({len(starts)} trainings, each from step 0)  ", style=dim)
        else:
            for i, k in enumerate(keys):
                if any(k in left + right for left, right in shown):
                    head.append("━━ ", style=Style(color=f"color({PALETTE[i]})"))
                    head.append(f"{k}  ")
        extra = len([k for k, p in self.curves.items() if p and k != TRAINING_METRIC]) - len(keys)
        if hidden:
            head.append(f"{', '.join(hidden)}: taller to see  ", style=dim)
        if extra > 0:
            head.append(f"+{extra} more", style=dim)
        self._drawn = (time.monotonic(), keys, min(p[0][0] for p in self.curves.values() if p), last_step(self.curves))
        head.truncate(width, overflow="ellipsis")
        rows = height - 1
        lines: list[Text] = [head]
        texts: dict[Line, Text] = {}
        for n, (left, right) in enumerate(shown):
            h = rows // len(shown) + (rows % len(shown) if n == len(shown) - 1 else 0)
            lines += self._plot(n, keys, left, right, starts, width, h, texts)
        self._texts = texts
        self._keys = {id(text): line for line, text in texts.items()}
        return lines

    def _training_labels(self, starts: list[int]) -> list[str]:
        lr = next((k for k in self.curves if kind(k) == "learning rate" and self.curves[k]), None)
        labels = []
        for i, piece in enumerate(split(self.curves[lr], starts) if lr else [[] for _ in starts]):
            values = [v for _, v in piece if v is not None and v == v]
            labels.append(f"lr {max(values):.3g}" if values else f"training {i + 1}")
        return labels

    def _plot(self, panel: int, keys: list[str], left: list[str], right: list[str], starts: list[int], width: int,
              height: int, texts: dict[Line, Text]) -> list[Text]:
        """One panel's lines: the left axis's kind and the right axis's, each axis labelled with its
        kind, the step axis below; with several trainings each is its own series from step 0. Its
        axes keep their range while the data stays inside (`_extent`), so a growing curve changes
        few lines, and only those are made into text again (the others are the last drawing's,
        kept in `texts` for the next)."""
        most = max(10, width * 2)
        several = len(starts) > 1
        pieces = {k: split(self.curves[k], starts) for k in left + right}
        drawn = [piece for ps in pieces.values() for piece in ps if piece]  # each in step order (`merge`)
        series: list[Series] = []
        ranges: dict[str, tuple[float, float]] = {}
        x_range, ticks = (0.0, 1.0), [0, 1]
        if drawn:
            first = min(piece[0][0] for piece in drawn)
            x_range = self._extent(f"{panel}:x", first, max(piece[-1][0] for piece in drawn))
            lo, hi = x_range
            stride = math.ceil((hi - first + 1) / most)
            values: dict[str, list[float]] = {"left": [], "right": []}
            for k in left + right:
                for t, piece in enumerate(pieces[k]):
                    if not piece:
                        continue
                    pts = self._thin((panel, k, t), piece, first, stride, most)
                    xs = [p[0] for p in pts]
                    ys = [p[1] if p[1] is not None and p[1] == p[1] else 0.0 for p in pts]
                    colour = PALETTE[(t if several else keys.index(k)) % len(PALETTE)]
                    side = "right" if k in right else "left"
                    values[side] += ys
                    series.append(Series(xs, ys, colour, side))
            for side, ys in values.items():
                if ys:
                    ranges[side] = self._extent(f"{panel}:{side}", min(ys), max(ys))
            ticks = sorted({round(lo + (hi - lo) * f) for f in (0, 0.5, 1)}) if hi > lo else [round(lo)]
        axes = Axes(x_range, ranges.get("left", (0.0, 1.0)), (ranges.get("right", (0.0, 1.0)) if right else None),
                    ticks, (kind(left[0]), "step of each training" if several else "step",
                            kind(right[0]) if right else ""))
        lines = []
        for line in draw(series, axes, width, height):
            text = self._texts.get(line)
            if text is None:
                text = Text(no_wrap=True)
                for part, index in line:
                    text.append(part, style=None if index is None else _colour(index))
            texts[line] = text
            lines.append(text)
        return lines

    def _thin(self, tag: tuple[int, str, int], points: list[tuple[int, float]], first: int, stride: int,
              most: int) -> list[tuple[int, float]]:
        """At most about `most` points: every point while they fit, else those on a grid of `stride`
        steps from `first` (and the last), so the points kept stay the same as the curve grows.
        Only the points that arrived since the last drawing are scanned: a curve grows by
        appending (`merge`), and while its grid stays, what was kept stays kept (a long run's
        curves are thousands of points a key)."""
        if len(points) <= most or stride <= 1:
            return thin(points, most)
        hit = self._grid.get(tag)
        if hit is None or hit[0] is not points or hit[1] != (first, stride) or len(points) < hit[2]:
            kept: list[tuple[int, float]] = []
            scanned = 0
        else:
            _, _, scanned, kept = hit
        kept.extend(p for p in points[scanned:] if (p[0] - first) % stride == 0)
        self._grid[tag] = (points, (first, stride), len(points), kept)
        return kept if kept and kept[-1] == points[-1] else [*kept, points[-1]]

    def _extent(self, axis: str, lo: float, hi: float) -> tuple[float, float]:
        """The range an axis shows. The first drawing of a run's curves fits its data; later ones
        keep that range while the data stays inside it and otherwise grow it with 20 % to
        spare, so a growing curve changes only where its new points land (and only those lines
        are sent to the terminal) instead of rescaling the whole picture at every redraw."""
        shown = self._extents.get(axis)
        if shown is None:
            self._extents[axis] = (lo, hi)
            return lo, hi
        if lo < shown[0] or hi > shown[1]:
            spare = 0.2 * max(hi - lo, abs(hi) * 1e-6, 1e-12)
            shown = (min(shown[0], lo - spare) if lo < shown[0] else shown[0],
                     max(shown[1], hi + spare) if hi > shown[1] else shown[1])
            if axis.endswith(":x"):
                shown = (shown[0], float(math.ceil(shown[1])))
            self._extents[axis] = shown
        return shown


_STYLES: dict[int, Style] = {}


def _colour(index: int) -> Style:
    """The style of a curve's colour (one object per colour)."""
    style = _STYLES.get(index)
    if style is None:
        style = _STYLES[index] = Style(color=f"color({index})")
    return style
