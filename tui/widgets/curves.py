"""Live loss/accuracy curves of one run, drawn with plotext (loss-like keys on the left axis,
the others on the right). The drawing is cached and rebuilt only when points arrive or the
widget is resized; long curves are thinned to what the width can show.

Drawing costs ~20 ms of CPU (plotext) and resends the whole panel to the terminal, so a live
curve is redrawn at most every `every_s` seconds (`[tui] curves_s`), and only when what arrived
shows: points that move the right end by at least one braille dot column, a new key, or else
after `STALE_S`; only the lines that changed are repainted. While the widget is not on screen
(another tab, another screen) Textual does not render it, so nothing is drawn until it is shown
again."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.widget import Widget

from tui.messages import WorkerFailed
from tui.widgets.styling import ComponentStyles

PALETTE = (39, 208, 42, 199, 226, 141)   # 256-colour indices, one per curve
MAX_KEYS = 4
MAX_POINTS = 5000  # per key kept in memory; older points are thinned beyond this
STALE_S = 30.0     # a live curve whose new points do not show is still redrawn this often

Curves = dict[str, list[tuple[int, float]]]
_plotext: Any = None  # imported in a thread after the first frame: it takes ~0.2 s


def _import_plotext() -> Any:
    global _plotext
    if _plotext is None:
        import plotext

        _plotext = plotext
    return _plotext


def pick_keys(curves: Curves) -> list[str]:
    def rank(key: str) -> tuple[int, str]:
        k = key.lower()
        return (0 if "loss" in k else 1 if "acc" in k else 2, key)

    return sorted((k for k, pts in curves.items() if pts), key=rank)[:MAX_KEYS]


def thin(points: list[tuple[int, float]], most: int) -> list[tuple[int, float]]:
    if len(points) <= most:
        return points
    step = len(points) / most
    out = [points[int(i * step)] for i in range(most)]
    if out[-1] != points[-1]:
        out[-1] = points[-1]
    return out


def thin_on_grid(points: list[tuple[int, float]], first: int, stride: int, most: int) -> list[tuple[int, float]]:
    """At most about `most` points: every point while they fit, else those on a grid of `stride`
    steps from `first` (and the last), so the points kept stay the same as the curve grows."""
    if len(points) <= most or stride <= 1:
        return thin(points, most)
    out = [p for p in points if (p[0] - first) % stride == 0]
    if not out or out[-1] != points[-1]:
        out.append(points[-1])
    return out


def merge(curves: Curves, new: Curves) -> bool:
    """Append the points after each curve's last step (a read that raced another one adds
    nothing twice); True when anything was added."""
    added = False
    for key, pts in new.items():
        line = curves.setdefault(key, [])
        after = line[-1][0] if line else None
        fresh = [p for p in pts if after is None or p[0] > after]
        if fresh:
            line.extend(fresh)
            if len(line) > MAX_POINTS:
                curves[key] = line[::2]
            added = True
    return added


def last_step(curves: Curves) -> int:
    return max((pts[-1][0] for pts in curves.values() if pts), default=-1)


class CurvePlot(ComponentStyles, Widget):
    COMPONENT_CLASSES = {"curves--dim", "curves--title"}

    def __init__(self, empty_text: str = "no curves yet", *, every_s: float = 0.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.empty_text = empty_text
        self.every_s = every_s
        self.curves: Curves = {}
        self.title = ""
        self._version = 0
        self._cache: tuple[tuple[int, int, int], Text] | None = None
        self._drawn: tuple[float, list[str], int, int] | None = None  # when, keys, first and last step
        self._extents: dict[str, tuple[float, float]] = {}  # axis ("x", "left", "right") -> range shown
        self._timer: Any = None

    def set_curves(self, curves: Curves, title: str) -> None:
        """Show these curves (the caller owns the dict and calls `touched` when it grows); a new
        run's curves are drawn at once."""
        self.curves, self.title = curves, title
        self._drawn = None
        self._extents = {}
        self._redraw()

    def touched(self) -> None:
        """The curves grew: redrawn now, or when `_wait` says (one pending redraw at most)."""
        wait = self._wait()
        if wait <= 0:
            self._redraw()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._due, name="curves")

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
        """Draw again: at once and only the lines that changed while the plot is on screen at
        the size it was drawn at (a growing curve under fixed axes changes few), else whole, when
        Textual next shows it."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._version += 1
        width, height = self.size.width, self.size.height
        old = self._cache
        if old is None or old[0][1:] != (width, height) or not (self.is_on_screen and self.screen.is_current):
            self.refresh()
            return
        text = self._draw(width, height)
        self._cache = ((self._version, width, height), text)
        before, after = old[1].split("\n"), text.split("\n")
        changed = [y for y in range(max(len(before), len(after)))
                   if y >= len(before) or y >= len(after) or before[y] != after[y]]
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        key = (self._version, width, height)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        text = self._draw(width, height)
        self._cache = (key, text)
        return text

    def _draw(self, width: int, height: int) -> Text:
        dim = self.cstyle("curves--dim")
        keys = pick_keys(self.curves)
        head = Text(no_wrap=True, overflow="ellipsis")
        if self.title:
            head.append(self.title + "  ", style=self.cstyle("curves--title"))
        if not keys or height < 4 or width < 20:
            head.append(self.empty_text if not keys else "(too small to draw)", style=dim)
            return head
        left = [k for k in keys if "loss" in k.lower()]
        right = [k for k in keys if k not in left]
        if not left:
            left, right = right, []
        for i, k in enumerate(keys):
            side = " (right)" if k in right and left else ""
            head.append("━━ ", style=Style(color=f"color({PALETTE[i]})"))
            head.append(f"{k}{side}  ")
        extra = len([k for k, p in self.curves.items() if p]) - len(keys)
        if extra > 0:
            head.append(f"+{extra} more", style=dim)
        if _plotext is None:
            self._load_plotext()
            head.append("  drawing…", style=dim)
            return head
        plot = self._plot(keys, left, right, width, height - 1)
        self._drawn = (time.monotonic(), keys, min(p[0][0] for p in self.curves.values() if p), last_step(self.curves))
        head.truncate(width, overflow="ellipsis")
        return Text("\n", no_wrap=True).join([head, plot])

    def _load_plotext(self) -> None:
        if not getattr(self, "_loading", False):
            self._loading = True
            self.run_worker(self._import, thread=True, exclusive=True, group="plotext", exit_on_error=False)

    def _import(self) -> None:
        try:
            _import_plotext()
        except Exception as exc:  # reported like every worker's error
            self.app.call_from_thread(self.app.post_message, WorkerFailed("loading plotext", exc))
            return
        self.app.call_from_thread(self._redraw)

    def _plot(self, keys: list[str], left: list[str], right: list[str], width: int, height: int) -> Text:
        plotext = _import_plotext()
        from plotext._primitives.marker import marker
        from plotext._primitives.pixel import pixel

        fig = plotext.figure
        fig.clear()
        fig.plot_size(width, height)
        fig.theme("colorless")
        fig.canvas("default")
        fig.legend(False)
        most = max(10, width * 2)
        values: dict[str, list[float]] = {"left": [], "right": []}
        first = min(self.curves[k][0][0] for k in keys)
        lo, hi = self._extent("x", first, max(self.curves[k][-1][0] for k in keys), fig.ruler(axis=0))
        stride = math.ceil((hi - first + 1) / most)
        for i, k in enumerate(keys):
            pts = thin_on_grid(self.curves[k], first, stride, most)
            xs = [p[0] for p in pts]
            ys = [p[1] if p[1] is not None and p[1] == p[1] else 0.0 for p in pts]
            side = "right" if k in right else "left"
            values[side] += ys
            signal = fig.signal(xs, ys, marker=marker("braille", pixel(foreground=PALETTE[i])), yside=side).lines()
            fig.draw(signal)
        for side, ys in values.items():
            if ys:
                self._extent(side, min(ys), max(ys), fig.ruler(axis=1, side=side))
        if hi > lo:
            ticks = sorted({round(lo + (hi - lo) * f) for f in (0, 0.5, 1)})
            fig.ruler(axis=0).ticks(ticks, [str(t) for t in ticks])
        return Text.from_ansi(fig.build().string(), no_wrap=True)

    def _extent(self, axis: str, lo: float, hi: float, ruler: Any) -> tuple[float, float]:
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
            if axis == "x":
                shown = (shown[0], float(math.ceil(shown[1])))
            self._extents[axis] = shown
        ruler.lim(*shown)
        return shown
