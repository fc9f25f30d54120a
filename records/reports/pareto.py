"""The Pareto front of quality against a cost: the variants no other variant beats on both
(at least as good quality for at most the cost, and strictly better on one). "Good" follows the
quality's kind: higher accuracy, lower perplexity or loss (contract.quantities)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contract import quantities
from contract.comparison import Spread
from contract.rating_record import VariantResult

COST_ROLES = ("energy", "time", "size")


@dataclass(frozen=True)
class Point:
    name: str
    quality: float
    cost: float
    higher_is_better: bool = True   # False for a perplexity or a loss

    @property
    def goodness(self) -> float:
        return self.quality if self.higher_is_better else -self.quality


def front(points: Sequence[Point]) -> list[Point]:
    """The non-dominated points, cheapest first."""
    out = []
    for p in points:
        dominated = any(q.cost <= p.cost and q.goodness >= p.goodness and (q.cost < p.cost or q.goodness > p.goodness)
                        for q in points)
        if not dominated:
            out.append(p)
    return sorted(out, key=lambda p: (p.cost, -p.goodness, p.name))


def _mean(summary: Spread) -> float | None:
    m = summary.mean
    return float(m) if isinstance(m, (int, float)) and not isinstance(m, bool) else None


def points(variants: Mapping[str, VariantResult], role: str, quality_key: str | None = None) -> list[Point]:
    """Variant means of quality and one cost role (`energy`, `time`, `size`) from a breakdown;
    `quality_key` says which way quality is better (accuracy when not given)."""
    up = quantities.higher_is_better(quality_key) if quality_key else True
    out = []
    for name, v in variants.items():
        q, c = _mean(v.quality), _mean(v.summary(role))
        if q is not None and c is not None:
            out.append(Point(name, q, c, up))
    return out


def fronts(variants: Mapping[str, VariantResult], quality_key: str | None = None) -> dict[str, list[str]]:
    """Per cost role with data, the names on its front (cheapest first)."""
    return {role: [p.name for p in front(pts)] for role in COST_ROLES
            if (pts := points(variants, role, quality_key))}
