"""The numbers a finding keeps beside its sentence (the findings table's `data` column), by the
finding's kind: a reference point's spread, a comparison's figures, a skip's reason, a failure's
runs. `science.findings` writes them; the store reads them back typed (`finding_data`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from contract.comparison import Pair, Spread
from contract.jsonvalue import JsonObject, json_object
from contract.params import ParamValues
from contract.record_json import JsonRecord


@dataclass(frozen=True)
class BaselineData(JsonRecord):
    """A reference point's numbers: its quality and energy over its seeds."""

    quality: Spread
    energy: Spread
    n: int


@dataclass(frozen=True)
class ComparisonData(JsonRecord):
    """The numbers a finding of a comparison keeps beside its sentence."""

    efficiency_score: float | None
    efficiency_score_ci95: Pair | None
    speedup: float | None
    speedup_ci95: Pair | None
    compression: float | None
    quality_delta: float | None
    quality_delta_ci95: Pair | None
    cost_p_value: float | None
    n: int
    params: ParamValues
    reference: str
    objective: str | None
    effect: float | None
    effect_ci95: Pair | None
    control_valid: bool | None
    paired: bool | None


@dataclass(frozen=True)
class SkippedData(JsonRecord):
    reason: str


@dataclass(frozen=True)
class FailedData(JsonRecord):
    runs: list[int]
    error: str


FindingData = BaselineData | ComparisonData | SkippedData | FailedData

# the kind of a finding says which numbers it keeps; a comparison's verdicts share theirs
DATA_OF_KIND: dict[str, type[FindingData]] = {
    "baseline": BaselineData, "skipped": SkippedData, "failed": FailedData,
    **dict.fromkeys(("effect", "no_effect", "tradeoff", "worse", "void", "diverged", "exact"), ComparisonData),
}


@dataclass(frozen=True)
class KeptData(JsonRecord):
    """A finding's numbers as a kind this lab does not know, or an older writer, left them: kept
    and written back as read."""

    given: JsonObject

    def to_json(self) -> JsonObject:
        return dict(self.given)


def finding_data(kind: str, raw: object) -> FindingData | KeptData:
    """The column typed by the finding's kind (KeptData for an unknown kind or another shape)."""
    kept = KeptData(json_object(raw) or {})
    cls = DATA_OF_KIND.get(kind)
    if cls is None:
        return kept
    try:
        typed = cls.from_json(kept.given)
    except (KeyError, TypeError, ValueError):
        return kept
    return typed if _text(typed) == _text(kept) else kept


def _text(data: JsonRecord) -> str:
    return json.dumps(data.to_json(), sort_keys=True, default=str)
