"""The typed values of one comparison (docs/AGENTS.md, `rating_breakdown.variants`): a summary of
one quantity over seeds, a change (variant - reference) with its test, the effect on the
variant's objective, and the comparison of a variant with one reference. The validator builds
them (science/comparing.py, from science/comparison.py's summaries); they are written to JSON and
read back through `JsonRecord` (contract/record_json.py), keeping the records' shape. They live in
the contract so that the store can hand out a rated experiment typed (db/rows.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from contract import quantities as q
from contract import units
from contract.jsonvalue import JsonObject
from contract.record_json import OPT, JsonRecord

#: an interval as the records hold it: (low, high), either end missing in a degenerate case
Pair = tuple[float | None, float | None]

#: what a variant may be meant to improve (the catalog's `objective`)
OBJECTIVES = ("energy", "latency", "memory", "size", "stability", "quality")
#: the metric role each objective is judged on
OBJECTIVE_ROLE = {"energy": "energy", "latency": "time", "memory": "memory", "size": "size",
                  "stability": "stability", "quality": "quality"}
#: costs, lower is better: their ratio is reference / variant (> 1: the variant is cheaper)
RATIO_NAMES = {"energy": "energy_ratio", "time": "speedup", "size": "compression", "memory": "memory_ratio"}
#: the metric roles a variant's summary may hold, each under its own name
ROLES = ("quality", "validation", "energy", "time", "size", "memory", "stability")
MODELLED = "modelled from CPU time"
#: an effect's kind (issue 22): measured over seeds, or exact (the same on every seed: fixed by
#: construction, a size or a parameter count; no p-value, no effect point)
MEASURED, EXACT = "measured", "exact"
RATIO, DIFFERENCE = "ratio", "difference"


@dataclass(frozen=True)
class Spread(JsonRecord):
    """One quantity over seeds (or the base models' means): mean, sample std and the 95 % CI."""

    mean: float | None = None
    std: float | None = None
    ci95: Pair | None = None

    def text(self, key: str) -> str:
        """'0.9512 ± 0.0021', in the unit `key` names (contract.units)."""
        return units.mean_std(self.mean, self.std, q.kind_of(key))

    def ci_text(self, key: str) -> str:
        """The 95 % interval in the unit `key` names (never below 0 where it cannot be)."""
        return units.interval(self.ci95, q.kind_of(key))


@dataclass(frozen=True)
class Change(JsonRecord):
    """variant - reference of one quantity, with its test (science's `stats.Difference` as recorded)."""

    mean: float | None = None
    ci95: Pair | None = None
    p_value: float | None = None
    effect_size: float | None = None
    mde: float | None = None
    paired: bool = False
    method: str | None = None
    n: int = 0
    bootstrap_ci95: Pair | None = field(default=None, metadata=OPT)
    note: str | None = field(default=None, metadata=OPT)



@dataclass(frozen=True)
class QualityChange(Change):
    """The quality change, saying what it is (`contract.quantities`): its kind, the reference's
    mean, for a perplexity or a loss the change relative to it, and over test examples."""

    examples_ci95: Pair | None = field(default=None, metadata=OPT)
    kind: str | None = None
    reference_mean: float | None = None
    relative: float | None = field(default=None, metadata=OPT)
    relative_ci95: Pair | None = field(default=None, metadata=OPT)


@dataclass(frozen=True)
class Effect(JsonRecord):
    """The effect on the variant's objective: a cost ratio (reference / variant) or a difference
    stored as a gain; its CI and how it was computed, p, MDE, what it was tested on, whether every
    paired seed points the good way, and whether it was measured or is exact; for an exact one,
    the measured cost the rubric judges instead (`measured`). The headline's adds `p_adjusted`."""

    objective: str | None = None
    metric: str | None = None
    kind: str = RATIO
    estimate: float | None = None
    ci95: Pair | None = None
    p_value: float | None = None
    mde: float | None = None
    ci_method: str | None = None
    effect_kind: str = MEASURED
    significant: bool = False
    consistent: bool | None = None
    tested_on: str | None = field(default=None, metadata=OPT)
    note: str | None = field(default=None, metadata=OPT)
    tested_estimate: float | None = field(default=None, metadata=OPT)
    tested_ci95: Pair | None = field(default=None, metadata=OPT)
    measured: Effect | None = field(default=None, metadata=OPT)
    quantity: str | None = field(default=None, metadata=OPT)
    reference_mean: float | None = field(default=None, metadata=OPT)
    p_adjusted: float | None = field(default=None, metadata=OPT)
    adjustment: str | None = field(default=None, metadata=OPT)

    @property
    def exact(self) -> bool:
        return self.effect_kind == EXACT

    @property
    def is_ratio(self) -> bool:
        return self.kind == RATIO


@dataclass(frozen=True)
class BetweenBases(JsonRecord):
    """Variance components over independently pre-trained base models (science's `stats.Components`)."""

    bases: int = 0
    n: int = 0
    per_base: dict[str, float | None] = field(default_factory=dict)
    seeds_per_base: dict[str, int] = field(default_factory=dict)
    between_var: float | None = None
    within_var: float | None = None
    between_share: float | None = None
    method: str | None = None


@dataclass(frozen=True)
class RatioFigure(JsonRecord):
    """A cost ratio of the comparison (reference / variant) with its CI and p-value (None when
    exact: nothing was tested)."""

    estimate: float | None = None
    ci95: Pair | None = None
    p_value: float | None = None


@dataclass(frozen=True)
class Comparison(JsonRecord):
    """One variant against one reference: every number of docs/AGENTS.md's comparison. Its cost
    ratios are kept by role (`ratios`) and written under their names (`speedup`, `speedup_ci95`,
    `time_p_value`, ...)."""

    reference: str | None = None
    objective: str | None = None
    role: str | None = field(default=None, metadata=OPT)
    between_bases: BetweenBases | None = field(default=None, metadata=OPT)
    quality_delta: QualityChange | None = None
    p_value: float | None = None
    effect_size: float | None = None
    paired: bool | None = None          # None: a record of rubric v1, which did not pair
    n_pairs: int = 0
    n_bases: int | None = field(default=None, metadata=OPT)
    quality_margin: float | None = None
    quality_margin_declared: float | None = None
    quality_kept: bool | None = None
    ratios: dict[str, RatioFigure] = field(default_factory=dict)
    interleaved: tuple[str, ...] | None = field(default=None, metadata=OPT)
    efficiency_score: float | None = None
    efficiency_score_ci95: Pair | None = None
    efficiency_score_p_value: float | None = None
    ci_methods: dict[str, str] = field(default_factory=dict)
    exact: tuple[str, ...] = ()
    stability_delta: Change | None = field(default=None, metadata=OPT)
    control_valid: bool | None = None   # None: a record of rubric v1, which did not check controls
    control_note: str | None = None
    edge_of_grid: str | None = None
    effect: Effect | None = None

    def ratio(self, role: str) -> float | None:
        got = self.ratios.get(role)
        return None if got is None else got.estimate

    def ratio_ci(self, role: str) -> Pair | None:
        got = self.ratios.get(role)
        return None if got is None else got.ci95

    @property
    def speedup(self) -> float | None:
        return self.ratio("time")

    @property
    def compression(self) -> float | None:
        return self.ratio("size")

    @property
    def energy_ratio(self) -> float | None:
        return self.ratio("energy")

    @property
    def memory_ratio(self) -> float | None:
        return self.ratio("memory")

    def p_value_of(self, role: str) -> float | None:
        got = self.ratios.get(role)
        return None if got is None else got.p_value

    def to_json(self) -> JsonObject:
        out: JsonObject = {}
        for key, value in super().to_json().items():
            if key != "ratios":
                out[key] = value
                continue
            for role, r in self.ratios.items():
                label = RATIO_NAMES[role]
                out[label], out[f"{label}_ci95"] = r.estimate, None if r.ci95 is None else list(r.ci95)
                out[f"{role}_p_value"] = r.p_value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        ratios = {role: RatioFigure.from_json({"estimate": data.get(label), "ci95": data.get(f"{label}_ci95"),
                                               "p_value": data.get(f"{role}_p_value")})
                  for role, label in RATIO_NAMES.items() if label in data or f"{role}_p_value" in data}
        return super().from_json({**{k: v for k, v in data.items() if k != "ratios"}, "ratios": {
            role: r.to_json() for role, r in ratios.items()}})


NO_COMPARISON = Comparison()
