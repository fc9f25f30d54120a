"""What a publication is built from: the counted results (done, rated, not preliminary, and a
result of their own: science/counting.py) and, among them, the headline findings (a variant
compared with its reference), each with the run whose model the zoo exports, its reproductions
and the earlier runs it supersedes."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from contract.rating_record import Breakdown, Headline, VariantResult
from db import Experiment, Run, RunState
from records.reports.lab import LabData
from science.counting import Result, count
from science.roadmap_standing import claimable


@dataclass(frozen=True)
class Finding:
    exp: Experiment
    headline: Headline
    quality_key: str
    run: Run | None                     # the run whose model is exported (median quality), if any succeeded
    result: Result | None = None        # its reproductions and the earlier runs it supersedes

    @property
    def id(self) -> int:
        return self.exp.id

    @property
    def rating(self) -> float:
        """Its rating (a counted result is rated: science/counting.py)."""
        return float(self.exp.rating or 0.0)

    @property
    def variant(self) -> str:
        return self.headline.variant

    @property
    def reference(self) -> str:
        return str(self.headline.reference or "")

    @property
    def catalog(self) -> str:
        return self.exp.catalog

    @property
    def claimable(self) -> bool:
        return claimable(self.exp)

    @property
    def breakdown(self) -> Breakdown:
        return self.exp.breakdown

    @property
    def variant_summary(self) -> VariantResult:
        return self.breakdown.variants.get(self.variant) or VariantResult()

    @property
    def evidence(self) -> list[str]:
        """Its reproduction evidence and the earlier runs it supersedes, one sentence each."""
        return self.result.lines() if self.result is not None else []

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"exp{self.id}-{self.catalog}-{self.variant}".lower()).strip("-")


def median_run(runs: list[Run], variant: str, key: str) -> Run | None:
    """The succeeded run of `variant` whose recorded `key` is the median (the lower middle one)."""
    recorded = {r.id: value for r in runs if r.variant == variant and r.status == RunState.SUCCEEDED
                and isinstance(value := (r.result or {}).get(key), (int, float))}
    mine = sorted((r for r in runs if r.id in recorded), key=lambda r: (recorded[r.id], r.seed))
    if not mine:
        return None
    target = statistics.median_low([recorded[r.id] for r in mine])
    return next(r for r in mine if recorded[r.id] == target)


def findings(lab: LabData) -> tuple[list[Experiment], list[Finding]]:
    """(the counted results, their headline findings)."""
    results = {r.id: r for r in count(lab.experiments).results}
    good = [e for e in lab.experiments if e.id in results]
    out = []
    for exp in good:
        b = exp.breakdown
        h = b.headline
        if h is None or not h.variant:
            continue
        key = b.keys.get("quality", "test_accuracy")
        out.append(Finding(exp, h, key, median_run(lab.runs_of(exp.id), h.variant, key), results[exp.id]))
    return good, out
