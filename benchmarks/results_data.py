"""What RESULTS.md's tables read from a drained lab, typed: an experiment's runs by seed with the
pre-trained base each seed fine-tuned (`Seeds`), and the validator's stored analysis as the tables
use it (`Validated`: its roles, each variant's summaries, the entry's declared quality margin).

The grouping by base is the validator's (`science.analysis.bases_of`): where the seeds fine-tuned
at least two independently pre-trained bases, what the model's weights decide is replicated by
base, the seeds being nested in the bases (issue 22 item 6); costs stay over seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from contract import quantities
from contract.comparison import Pair
from contract.rating_record import Breakdown
from science import stats
from science.analysis import WEIGHT_ROLES
from science.experiment_info import bases_of
from science.thresholds import QUALITY_MARGIN

#: kinds of result a model's weights decide (replicated by pre-trained base, never by seed)
WEIGHT_KINDS = (quantities.Kind.FRACTION, quantities.Kind.PERPLEXITY, quantities.Kind.LOSS)


@dataclass(frozen=True)
class Seeds:
    """An experiment's succeeded runs: the variants in plan order, each one's numeric results by
    seed, every run's status by variant, and the base each seed fine-tuned (None: one base or
    none, the seed is the unit)."""

    order: list[str]
    values: dict[str, dict[int, dict[str, float]]]  # variant -> seed -> result key -> number
    statuses: dict[str, list[str]]
    base_of: dict[Any, Any] | None

    @classmethod
    def of(cls, runs: list[Any]) -> Seeds:
        """From the lab's run rows (the result a JSON text)."""
        order = list(dict.fromkeys(str(r["variant"]) for r in runs))
        raw = {v: {r["seed"]: json.loads(r["result"]) for r in runs
                   if r["variant"] == v and r["status"] == "succeeded" and r["result"]} for v in order}
        values = {v: {s: {k: x for k, y in result.items() if (x := stats.number(y)) is not None}
                      for s, result in by.items()} for v, by in raw.items()}
        statuses = {v: [str(r["status"]) for r in runs if r["variant"] == v] for v in order}
        return cls(order, values, statuses, bases_of(raw))

    @property
    def n_bases(self) -> int:
        return len(set(self.base_of.values())) if self.base_of else 0

    def of_key(self, variant: str, key: str) -> dict[int, float]:
        """The variant's values of `key` by seed (the seeds that reported it)."""
        return {s: r[key] for s, r in self.values.get(variant, {}).items() if key in r}

    def by_base(self, values: dict[int, float]) -> list[float]:
        """Values by seed as the validator replicates them: the bases' means."""
        assert self.base_of is not None
        return list(stats.group_means(values, self.base_of).values())


@dataclass(frozen=True)
class Validated:
    """The validator's stored analysis (`rating_breakdown`) as the tables use it: which result key
    plays which role, each variant's summary of a role (mean and 95 % CI, over the bases' means
    where it replicated by base), and the entry's declared "quality kept" margin."""

    roles: dict[str, str]                                            # result key -> role
    summaries: dict[tuple[str, str], tuple[float, Pair | None]]  # (variant, role) -> mean, CI
    margin: float                                                    # points, or a share of the reference

    @classmethod
    def of(cls, breakdown: Breakdown) -> Validated:
        roles = {k: r for r, k in breakdown.keys.items() if k}
        summaries: dict[tuple[str, str], tuple[float, Pair | None]] = {}
        margin = QUALITY_MARGIN
        for variant, v in breakdown.variants.items():
            for role in WEIGHT_ROLES:
                s = v.summaries.get(role)
                if s is not None and (mean := stats.number(s.mean)) is not None:
                    summaries[(variant, role)] = (mean, s.ci95)
            for c in (v.comparisons or {}).values():
                if (declared := stats.number(c.quality_margin_declared)) is not None:
                    margin = declared
        return cls(roles, summaries, margin)

    def of_the_weights(self, key: str) -> str | None:
        """Does the model's weights decide `key` (then its interval is over the pre-trained
        bases)? The validator's role for it ('quality', 'validation', 'stability') when it has
        one, 'weights' for any other accuracy, perplexity (a perplexity ratio too) or loss, None
        for a cost."""
        role = self.roles.get(key)
        if role in WEIGHT_ROLES:
            return role
        return "weights" if quantities.kind_of(key) in WEIGHT_KINDS or "perplexity" in key else None


NOTHING_VALIDATED = Validated({}, {}, QUALITY_MARGIN)
