"""The control room's Ratings panel as rows: each rated experiment's rating and headline
(`rating_breakdown.headline`), counted once as the roadmap and `lab publish` count
(science/counting.py): a reproduction and an earlier run that a re-run superseded follow the result
they belong to, marked, instead of standing as ratings of their own."""

from __future__ import annotations

from dataclasses import dataclass, replace

from contract.rating_record import Headline
from db import Experiment
from science.counting import Counting, count
from science.headline import void_reason
from science.rubric import preliminary

LEADERBOARD = 30


@dataclass(frozen=True)
class LeaderRow:
    id: int
    name: str
    catalog: str
    rating: float
    variant: str | None
    efficiency: float | None
    speedup: float | None
    compression: float | None
    quality_delta: float | None
    delta_ci: tuple[float, float] | None
    estimated: bool
    void: bool = False          # the headline's control is invalid: its E is no finding
    quality_key: str = "test_accuracy"  # what the delta is a change of (perplexity: its own units)
    preliminary: bool = False   # smoke or too few seeds: rated at most 6, no finding (science/rubric.py)
    void_reason: str = ""       # why the comparison is void, in a few words (`science.headline.void_reason`)
    # science/counting.py: no result of its own, shown beneath the result it belongs to
    reproduces: int | None = None      # a reproduction (`lab reproduce N`): N's evidence
    superseded_by: int | None = None   # an earlier run of the same entry and parameters: this result replaced it

    @property
    def folded(self) -> bool:
        return self.reproduces is not None or self.superseded_by is not None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def leader_row(exp: Experiment) -> LeaderRow:
    breakdown = exp.breakdown
    head = breakdown.headline or Headline()
    ci = head.quality_delta_ci95
    ci_pair = (float(ci[0]), float(ci[1])) if ci is not None and ci[0] is not None and ci[1] is not None else None
    return LeaderRow(exp.id, exp.name, exp.catalog, float(exp.rating or 0.0), head.variant or None,
                     _float(head.efficiency_score), _float(head.speedup), _float(head.compression), _float(head.quality_delta),
                     ci_pair, bool(head.energy_estimated), head.control_valid is False,
                     str(breakdown.keys.get("quality") or "test_accuracy"), preliminary(exp),
                     void_reason(head.control_note) if head.control_valid is False else "")


def _belonging(counting: Counting) -> dict[int, tuple[int, int | None, int | None]]:
    """Each counted experiment that is no result of its own -> (the result it is shown beneath,
    the experiment it reproduces, the result that superseded it)."""
    out: dict[int, tuple[int, int | None, int | None]] = {}
    for result in counting.results:
        for old in result.supersedes:
            out[old.id] = (result.id, None, result.id)
            out.update((p.id, (result.id, p.of, None)) for p in old.reproductions)
        out.update((p.id, (result.id, p.of, None)) for p in result.reproductions)
    return out


def leader_rows(rated: list[Experiment], limit: int = LEADERBOARD) -> tuple[LeaderRow, ...]:
    """The Ratings panel, best first, counted once as the roadmap and the publication count
    (science/counting.py): a reproduction and an earlier run a re-run superseded are no ratings of
    their own; each follows the result it belongs to, marked."""
    belongs = _belonging(count(rated))
    beneath: dict[int, list[LeaderRow]] = {}
    for e in sorted(rated, key=lambda e: e.id):
        if e.id in belongs:
            result, of, by = belongs[e.id]
            beneath.setdefault(result, []).append(replace(leader_row(e), reproduces=of, superseded_by=by))
    out: list[LeaderRow] = []
    for e in sorted(rated, key=lambda e: (-(e.rating or 0.0), -e.id)):
        if e.id not in belongs:
            out += [leader_row(e), *beneath.get(e.id, ())]
    return tuple(out[:limit])
