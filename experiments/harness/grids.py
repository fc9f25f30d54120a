"""Hyperparameter grids that contain their optimum (issue 22, item 7).

A value chosen on validation data at the edge of its grid (the smallest or largest value tried)
says only that the optimum may lie beyond it. ``search`` tries the grid, and while the chosen
value sits on an edge, tries the next log-spaced value beyond that edge (the grid's own ratio
there, within the declared range), at most ``extensions`` times. A run whose choice is still on
an edge reports it in ``grid_edge`` (one line per tuned parameter), which the validator reads:
when a majority of a variant's seeds report one, the comparison is marked "edge of grid" and
earns no effect points (science/analysis.py). Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

#: extensions beyond a grid's edge a run tries by default
DEFAULT_EXTENSIONS = 2
#: the step beyond an edge when the grid has a single value or no usable ratio (a factor of ~3)
FALLBACK_RATIO = math.sqrt(10.0)


def edge(tried: list[float], chosen: float) -> str | None:
    """"low" or "high" when ``chosen`` is the smallest or largest of at least two values tried."""
    values = sorted(set(tried))
    if len(values) < 2:
        return None
    if chosen == values[-1]:
        return "high"
    if chosen == values[0]:
        return "low"
    return None


def beyond(tried: list[float], side: str, lo: float | None = None, hi: float | None = None) -> float | None:
    """The next log-spaced value past the ``side`` edge of ``tried`` (its outer ratio), clipped to
    [lo, hi]; None when the range allows nothing new."""
    values = sorted(v for v in set(tried) if v > 0)
    if not values:
        return None
    if side == "high":
        ratio = values[-1] / values[-2] if len(values) >= 2 else FALLBACK_RATIO
        nxt = values[-1] * ratio
    else:
        ratio = values[1] / values[0] if len(values) >= 2 else FALLBACK_RATIO
        nxt = values[0] / ratio
    if hi is not None:
        nxt = min(nxt, hi)
    if lo is not None:
        nxt = max(nxt, lo)
    nxt = float(f"{nxt:.6g}")
    return None if any(math.isclose(nxt, v, rel_tol=1e-9) for v in values) else nxt


@dataclass
class Search(Generic[T]):
    """A finished search: every point tried (in order), the chosen one, its edge if still on one."""
    name: str
    grid: list[float]
    tried: list[float] = field(default_factory=list)
    results: list[T] = field(default_factory=list)
    chosen: int = 0
    edge: str | None = None

    @property
    def value(self) -> float:
        return self.tried[self.chosen]

    @property
    def extended(self) -> list[float]:
        """The values tried beyond the declared grid."""
        return self.tried[len(self.grid):]

    def edge_note(self) -> str | None:
        """The run's ``grid_edge`` line for this parameter (None: the choice is inside the grid)."""
        if self.edge is None:
            return None
        where = "largest" if self.edge == "high" else "smallest"
        more = f", after {len(self.extended)} extension(s)" if self.extended else ""
        return f"{self.name} {self.value:g} is the {where} value tried ({sorted(self.tried)}{more})"


def search(name: str, grid: list[float], evaluate: Callable[[float], T], choose: Callable[[list[T]], int], *,
           extensions: int = DEFAULT_EXTENSIONS, lo: float | None = None, hi: float | None = None) -> Search[T]:
    """Evaluate every value of ``grid``; ``choose`` picks the index of the best result (on
    validation data). While the choice is on an edge, evaluate the next value beyond it."""
    out: Search[T] = Search(name, list(grid))
    for value in grid:
        out.tried.append(float(value))
        out.results.append(evaluate(float(value)))
    out.chosen = choose(out.results)
    out.edge = edge(out.tried, out.value)
    for _ in range(max(0, extensions)):
        if out.edge is None:
            break
        nxt = beyond(out.tried, out.edge, lo, hi)
        if nxt is None:
            break
        out.tried.append(nxt)
        out.results.append(evaluate(nxt))
        out.chosen = choose(out.results)
        out.edge = edge(out.tried, out.value)
    return out
