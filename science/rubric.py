"""The published rating rubric (docs/AGENTS.md), version 2: ten criteria of one point each, in
two groups. *Evidence* (5 points) says how far the experiment can be trusted: runs completed,
deliverables met, fair controls, enough paired seeds, measured (not modelled) evidence. *Effect*
(5 points) says what the headline variant achieved on its declared objective: significant after
correction, quality kept (non-inferiority), a clear and a large effect by the CI's lower bound
(for a cost objective, only at kept quality: a saving bought with quality is a trade-off), the
same direction on every seed. An invalid control, or a headline chosen on test data, voids
the effect: no effect point, and the evidence says why. The rating is the sum, at least 1.

Issue 22: claims no larger than the evidence.
- An *exact* effect (the same on every seed: a size, a parameter count, optimizer-state bytes,
  fixed by construction) is no evidence: it earns no significance, clear-effect, large-effect or
  same-direction point. The variant is judged on what is measured instead: quality kept
  (non-inferiority) and a measured cost (latency, else E where energy is measured), when it has one.
- A *preliminary* experiment (profile smoke, or fewer seeds than the rubric asks) is rated at most
  `PRELIMINARY_CAP`, never a breakthrough; `preliminary()` is the one rule (the roadmap, the
  steering, the tracker, the paper and the forms ask it).

Ratings of version 1 stay in their records as they were written (their criteria carry their own
labels and evidence) and are shown as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contract import quantities as q
from contract import units
from contract.deliverable import CheckedDeliverable
from contract.rating_record import RubricLine
from db.rows import Experiment
from science.analysis import Analysis
from science.rubric_checks import CHECKS, Delivered
from science.thresholds import (
    ALPHA,
    GAIN_RATIO,
    LARGE_QUALITY,
    LARGE_QUALITY_RELATIVE,
    LARGE_RATIO,
    LARGE_STABILITY,
    MIN_SEEDS,
    PRELIMINARY_CAP,
    QUALITY_MARGIN,
)

RUBRIC_VERSION = 2
EVIDENCE, EFFECT = "evidence", "effect"
SMOKE = "smoke"


# -- preliminary: the one rule -----------------------------------------------------------------

def preliminary_reason(profile: object, seeds: object) -> str | None:
    """Why an experiment at this profile and seed count can earn no finding (None: it can): the
    smoke profile (capped data, one or two epochs), or fewer seeds per variant than the rubric
    asks (MIN_SEEDS). Asked before a run (`lab run`, the new-experiment form, the steering) and
    by the validator after it."""
    reasons = []
    if profile == SMOKE:
        reasons.append("profile smoke (capped data, one or two epochs)")
    n = seeds if isinstance(seeds, int) and not isinstance(seeds, bool) else 0
    if n < MIN_SEEDS:
        reasons.append(f"{n} seed(s), fewer than the {MIN_SEEDS} the rubric asks for")
    return "; ".join(reasons) or None


def preliminary(exp: Experiment) -> bool:
    """A result that counts for nothing: the validator's own mark where the rating carries one,
    else the rule on the experiment's profile and seeds (records rated before issue 22)."""
    breakdown = exp.breakdown
    for mark in (breakdown.headline.preliminary if breakdown.headline else None, breakdown.preliminary):
        if isinstance(mark, bool):
            return mark
    return preliminary_reason(exp.params.get("profile"), exp.seeds) is not None


def preliminary_text(exp: Experiment) -> str | None:
    """'PRELIMINARY (profile smoke ...): not a finding, rated at most 6/10; its criteria earned 9',
    for a rated experiment that is preliminary; None for a finding. Every output says it so."""
    if not preliminary(exp):
        return None
    b = exp.breakdown
    reason = b.preliminary_reason or preliminary_reason(exp.params.get("profile"), exp.seeds) or "marked by the validator"
    points, rating = b.points, b.rating if b.rating is not None else exp.rating
    earned = (f"; its criteria earned {points}" if isinstance(points, int) and isinstance(rating, (int, float))
              and points > rating else "")
    return f"PRELIMINARY ({reason}): not a finding, rated at most {PRELIMINARY_CAP}/10{earned}"


def preliminary_note(reason: str) -> str:
    """What a person is told before queueing a preliminary experiment."""
    return (f"preliminary: {reason}: it will be rated at most {PRELIMINARY_CAP}/10 and is no finding (not in the "
            f"tracker's bands or the paper's results); a finding needs profile default or full and {MIN_SEEDS}+ seeds")


@dataclass(frozen=True)
class Criterion:
    id: str
    group: str
    label: str
    rule: str  # what earns the point, as published


RUBRIC: tuple[Criterion, ...] = (
    Criterion("executed", EVIDENCE, "executed fully", "at least one run produced a result, and every run succeeded "
              "or was skipped with a reason (a device that cannot run it); none failed, timed out or was cancelled"),
    Criterion("deliverables", EVIDENCE, "deliverables met", "every applicable deliverable of the plan passed"),
    Criterion("controls", EVIDENCE, "valid controls", "every comparison's reference is a fair control: none of its "
              "seeds diverged, it received at least the variant's optimizer steps (budget_steps, 1 % tolerance), "
              "and its quality reaches the floor the entry declares"),
    Criterion("seeds", EVIDENCE, f"{MIN_SEEDS}+ paired seeds", f"every variant with results has at least {MIN_SEEDS} "
              "seeds, and the headline is compared with its reference paired by seed"),
    Criterion("measured", EVIDENCE, "measured evidence", "the headline's objective is measured, not modelled: "
              "energy only with hardware counters (RAPL, NVML; energy modelled from CPU time is not a second "
              "measurement beside time), and every result records its seed and library versions"),
    Criterion("significant", EFFECT, "significant after correction", f"the headline's effect on its objective is "
              f"in the good direction with p < {ALPHA} (paired t over seeds; Holm-corrected across the candidates "
              "when the headline was not declared; modelled energy is tested on time; an exact effect, the same "
              "on every seed by construction, is not tested: the point then judges a measured cost)"),
    Criterion("quality_kept", EFFECT, "quality kept (non-inferior)", "the 95 % CI of the headline's paired quality "
              "change stays within the entry's non-inferiority margin on the bad side: "
              f"{units.margin_rule(QUALITY_MARGIN)}, unless the entry declares its own"),
    Criterion("effect", EFFECT, "clear effect", f"the lower bound of the effect's 95 % CI clears no-effect: a cost "
              f"ratio (energy, latency, memory, size) above {GAIN_RATIO:g}, a quality gain or a drop of the divergence "
              "rate above 0"),
    Criterion("large_effect", EFFECT, "large effect", f"the lower bound of the effect's 95 % CI reaches a large "
              f"effect: a cost ratio of {LARGE_RATIO:g}, a quality gain of {units.margin(LARGE_QUALITY, q.Kind.FRACTION)} "
              f"of a fraction (accuracy) or {units.margin(LARGE_QUALITY_RELATIVE, q.Kind.PERPLEXITY)} for a perplexity "
              f"or a loss, a divergence rate {units.margin(LARGE_STABILITY, q.Kind.FRACTION)} lower"),
    Criterion("reproducible", EFFECT, "same direction on every seed", "the headline's paired effect points the "
              "good way on every seed (at least 2)"),
)

def rate(analysis: Analysis, checked: Iterable[CheckedDeliverable]) -> tuple[int, list[RubricLine]]:
    """The rating 1-10 and its criteria, each with the evidence that earned (or missed) its point,
    from the analysis and the deliverables' checks (science/deliverables.check_all's); a
    preliminary experiment (`preliminary_reason`) is capped at PRELIMINARY_CAP."""
    delivered = Delivered.of(checked)
    criteria: list[RubricLine] = []
    for c in RUBRIC:
        ok, evidence = CHECKS[c.id](analysis, delivered)
        criteria.append(RubricLine(c.id, c.group, c.label, int(ok), 1, evidence))
    earned = max(1, sum(c.points for c in criteria))
    if preliminary_reason(analysis.info.profile, analysis.seeds) is not None:
        return min(earned, PRELIMINARY_CAP), criteria
    return earned, criteria


@dataclass(frozen=True)
class Marks:
    """What the rating says about the experiment beyond its points (issue 22): preliminary or a
    finding, and whether the headline's effect was measured or is exact."""

    rating: int
    points: int                       # the criteria's sum before the cap
    preliminary: bool
    preliminary_reason: str | None
    effect_kind: str                  # "measured" or "exact"
    ci_method: str | None

    @property
    def capped(self) -> bool:
        return self.rating < self.points


def marks_of(analysis: Analysis, rating: int, criteria: list[RubricLine]) -> Marks:
    reason = preliminary_reason(analysis.info.profile, analysis.seeds)
    h = analysis.headline
    return Marks(rating, max(1, sum(c.points for c in criteria)), reason is not None, reason,
                 str((h.effect_kind if h is not None else None) or "measured"), h.ci_method if h is not None else None)
