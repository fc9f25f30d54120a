"""The rating as the record holds it (docs/AGENTS.md, `rating_breakdown`), typed: each variant's
result (its summaries and its comparisons), the headline comparison, the rubric's lines, and the
breakdown around them. The validator builds them and the store writes them through `to_json`; the
store decodes the experiment's column once into a `Breakdown` (db/rows.py, `Experiment.rating_breakdown`,
`Experiment.breakdown`), which every reader (the reports, the summary, the paper, the findings,
`lab rating`, the control room) reads by attribute. A rating given as JSON (`rating.json`, a mapping)
is read through `Breakdown.read` (or `Headline.from_json`, `VariantResult.from_json`); `from_json`
keeps records of every rubric version readable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

from contract.comparison import (
    NO_COMPARISON,
    RATIO_NAMES,
    ROLES,
    BetweenBases,
    Comparison,
    Effect,
    Pair,
    Spread,
)
from contract.deliverable import CheckedDeliverable
from contract.jsonvalue import JsonObject, JsonValue
from contract.params import ParamValues, param_values
from contract.record_json import OPT, JsonRecord

#: the names of a comparison's figures in a variant's record, where the primary one is written flat
FLAT_COMPARISON = frozenset({"quality_delta", "effect", "p_value", "paired", "quality_kept", "efficiency_score",
                             "control_valid", *RATIO_NAMES.values(), *(f"{role}_p_value" for role in RATIO_NAMES)})


@dataclass(frozen=True)
class SetChange(JsonRecord):
    """A variant's perplexity on a set against its reference's: (ratio - 1) in %, with its CI."""

    reference: str | None = None
    pct: float | None = None
    ci95: Pair | None = None
    n: int = 0
    method: str | None = None


@dataclass(frozen=True)
class SetResult(JsonRecord):
    """A variant's perplexity on one evaluation set over its seeds, the set's size, how much of it
    the training split also holds, and the change against the reference."""

    perplexity: Spread | None = None
    tokens: int | None = None
    shared_with_train: int | None = None
    vs: SetChange | None = field(default=None, metadata=OPT)


@dataclass(frozen=True)
class RunCounts(JsonRecord):
    """How the experiment's runs ended."""

    total: int = 0
    succeeded: int = 0
    skipped: int = 0
    failed: int = 0


@dataclass(frozen=True)
class RubricLine(JsonRecord):
    """One criterion of the rubric as rated: its point (0 or 1) and the evidence that earned or
    missed it (docs/AGENTS.md; rubric v1 records carry their own labels)."""

    id: str = ""
    group: str = ""
    label: str = ""
    points: int = 0
    max: int = 1
    evidence: str = ""


@dataclass(frozen=True)
class VariantResult(JsonRecord):
    """One variant's evidence: its runs, its summaries by metric role (written under the role's
    name), and its comparisons with each reference (the primary one also written flat, as the
    records always had it)."""

    n: int = 0
    baseline: bool = False
    params: ParamValues = field(default_factory=dict)  # the variant's own, as the plan gave them
    seeds: tuple[int, ...] = ()
    energy_mode: str | None = None
    energy_estimated: bool | None = None
    diverged: int = 0
    skipped: int = 0
    reference: str | None = None
    summaries: dict[str, Spread] = field(default_factory=dict)
    between_bases: BetweenBases | None = field(default=None, metadata=OPT)
    budget_steps: float | None = field(default=None, metadata=OPT)
    references: tuple[str, ...] | None = field(default=None, metadata=OPT)
    comparisons: dict[str, Comparison] | None = field(default=None, metadata=OPT)
    eval_sets: dict[str, SetResult] | None = field(default=None, metadata=OPT)
    deliverables_met: bool | None = field(default=None, metadata=OPT)

    @property
    def compared(self) -> Comparison:
        """The comparison with the primary reference (an empty one for a reference point)."""
        if not self.comparisons:
            return NO_COMPARISON
        first = (self.references or (self.reference,))[0]
        return self.comparisons.get(first or "") or next(iter(self.comparisons.values()))

    def summary(self, role: str) -> Spread:
        return self.summaries.get(role) or Spread()

    @property
    def quality(self) -> Spread:
        return self.summary("quality")

    def to_json(self) -> JsonObject:
        out: JsonObject = {}
        for key, value in super().to_json().items():
            if key == "summaries" and isinstance(value, Mapping):
                out.update(value)
            elif key == "references":
                out[key] = value
                out.update(self.compared.to_json())
            else:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        summaries = {r: data[r] for r in ROLES if isinstance(data.get(r), Mapping)}
        comparisons = data.get("comparisons")
        if not isinstance(comparisons, Mapping) and FLAT_COMPARISON.intersection(data):
            # a record written before a variant had several comparisons (rubric v1 too): its one, flat
            reference = data.get("reference")
            comparisons = {reference if isinstance(reference, str) else "": data}
        read = super().from_json({**{k: v for k, v in data.items() if k not in ROLES and k != "params"},
                                  "summaries": summaries, "comparisons": comparisons})
        params = data.get("params")  # kept as written (as the plan's: contract.plan.PlanStep)
        return replace(read, params=dict(params)) if isinstance(params, Mapping) else read


@dataclass(frozen=True)
class Headline(JsonRecord):
    """The headline comparison as the validator chose it (docs/AGENTS.md): the comparison's
    figures, how it was chosen, the quality's kind, and the marks the rating adds. Records of
    rubric v1 hold only the names at the end (`efficiency_score` ... `quality_kept`)."""

    variant: str = ""
    reference: str | None = None
    objective: str | None = None
    metric: str | None = None
    effect: float | None = None
    effect_ci: Pair | None = None
    e: float | None = None
    e_ci: Pair | None = None
    quality_delta_points: float | None = None
    quality_delta_ci: Pair | None = None
    quality_key: str | None = None
    quality_kind: str | None = None
    quality_reference_mean: float | None = None
    quality_delta_relative: float | None = None
    quality_delta_relative_ci: Pair | None = None
    paired: bool | None = None
    control_valid: bool | None = None
    control_note: str | None = None
    selection: str | None = None
    candidates: int | None = None
    edge_of_grid: str | None = None
    quality_margin_declared: float | None = None
    n_bases: int | None = None
    between_bases: BetweenBases | None = None
    effect_detail: Effect | None = None
    energy_mode: str | None = None
    effect_kind: str | None = None
    ci_method: str | None = None
    e_ci_method: str | None = None
    efficiency_score: float | None = None
    speedup: float | None = None
    compression: float | None = None
    quality_delta: float | None = None
    quality_delta_ci95: Pair | None = None
    energy_estimated: bool | None = None
    quality_kept: bool | None = None
    preliminary: bool | None = field(default=None, metadata=OPT)
    preliminary_reason: str | None = field(default=None, metadata=OPT)

    def to_json(self) -> JsonObject:
        out = super().to_json()
        detail = out.get("effect_detail")
        if isinstance(detail, dict):  # the headline's effect always says its adjusted p
            detail.setdefault("p_adjusted", None)
        return out

    @property
    def e_or_score(self) -> float | None:
        """E, under its rubric v2 name or its v1 one."""
        return self.e if self.e is not None else self.efficiency_score

    @property
    def detail(self) -> Effect:
        """The effect on the objective (built from the flat fields for a record without it)."""
        return self.effect_detail or Effect(objective=self.objective, metric=self.metric, estimate=self.effect,
                                            ci95=self.effect_ci)


@dataclass(frozen=True)
class ProposedFollowUp(JsonRecord):
    """A follow-up as the validator proposed or named it (the rating's `follow_ups`): the rule's kind,
    the parameters it changes, its seeds and why, and what came of it: a child experiment, a
    duplicate, the catalog's refusal or a suggestion only."""

    kind: str = ""
    changes: ParamValues = field(default_factory=dict)
    seeds: int = 0
    rationale: str = ""
    suggested: bool | None = field(default=None, metadata=OPT)   # named only: research was off
    error: str | None = field(default=None, metadata=OPT)        # the catalog refused it
    duplicate_of: int | None = field(default=None, metadata=OPT)
    experiment_id: int | None = field(default=None, metadata=OPT)
    approved: bool | None = field(default=None, metadata=OPT)
    decision: str | None = field(default=None, metadata=OPT)

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        read = super().from_json({k: v for k, v in data.items() if k != "changes"})
        changes = param_values(data.get("changes"))  # kept as written (a list of floats stays one)
        return read if changes is None else replace(read, changes=dict(changes))


@dataclass(frozen=True)
class Breakdown(JsonRecord):
    """The rating breakdown an experiment keeps (its `rating_breakdown`): the rating and its rubric
    lines, the keys and runs, every variant's result, the headline, the deliverables' checks, the
    findings' sentences, the follow-ups, and the marks (preliminary, the effect's kind)."""

    rating: float | None = None
    rubric_version: int | None = None
    criteria: tuple[RubricLine, ...] = ()
    baseline: str | None = None
    gain_phase: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    keys_from: str | None = None
    seeds: int | None = None
    runs: RunCounts | None = None
    variants: dict[str, VariantResult] = field(default_factory=dict)
    headline: Headline | None = None
    declared_headline: str | None = None
    speedup_batch: int | None = None
    deliverables: tuple[CheckedDeliverable, ...] = ()   # each check as science/deliverables.check_all gives it
    findings: tuple[str, ...] = ()
    follow_ups: tuple[ProposedFollowUp, ...] = ()
    preliminary: bool | None = None
    preliminary_reason: str | None = None
    effect_kind: str | None = None
    ci_method: str | None = None
    points: int | None = None
    runs_finished_at: float | None = field(default=None, metadata=OPT)

    @property
    def quality_key(self) -> str:
        return self.keys.get("quality", "quality")

    @classmethod
    def read(cls, data: object) -> Breakdown:
        """A rating breakdown, typed: the store's (already typed), or one as JSON holds it
        (`rating.json`, a record); an empty one when the experiment is not rated (None)."""
        if isinstance(data, Breakdown):
            return data
        return cls.from_json(data) if isinstance(data, Mapping) else cls()
