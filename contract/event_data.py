"""What an audit-log event carries beside its message (the events table's `data` column), one
type per kind of event that carries any: written by the store (and the record) as these, read back
by the event's kind (`event_data`). A column that does not read back as itself (an older lab's
shape, a kind this lab does not know) is kept as written."""

from __future__ import annotations

from dataclasses import dataclass

from contract.jsonvalue import JsonValue
from contract.record_json import JsonRecord

RUN_ARTIFACT = "run.artifact"  # the audit log's kind for a file a run reported (its data: path, kind)
RUN_ERROR = "run.log.error"    # ... for a run's `error` event (its data: where, traceback)


@dataclass(frozen=True)
class RequestAsked(JsonRecord):
    """`request`: a request was written (contract/requests.py)."""

    request_id: int = 0


@dataclass(frozen=True)
class Rejected(JsonRecord):
    """`experiment.rejected`: why."""

    reason: str = ""


@dataclass(frozen=True)
class Rated(JsonRecord):
    """`experiment.rated`: the rating given."""

    rating: float = 0.0


@dataclass(frozen=True)
class Recorded(JsonRecord):
    """`experiment.recorded`: the record's commit."""

    sha: str = ""


@dataclass(frozen=True)
class RunEnded(JsonRecord):
    """`run.<state>`: how the run's process ended, and which attempt it was."""

    exit_code: int | None = None
    attempt: int = 0


@dataclass(frozen=True)
class ArtifactReported(JsonRecord):
    """`run.artifact`: a file a run reported, relative to its run folder, and what it is."""

    path: str = ""
    kind: str | None = None


@dataclass(frozen=True)
class RunFailure(JsonRecord):
    """`run.log.error`: where a run's program raised, and its traceback's tail."""

    where: str = ""
    traceback: str = ""


@dataclass(frozen=True)
class SprintRef(JsonRecord):
    """`sprint.<stage>`: which sprint."""

    sprint_id: int = 0


@dataclass(frozen=True)
class EndpointDown(JsonRecord):
    """`llm.degraded`: which language-model endpoint, and when it is tried again."""

    endpoint: str = ""
    retry_at: float | None = None


@dataclass(frozen=True)
class EndpointBack(JsonRecord):
    """`llm.recovered`: which language-model endpoint."""

    endpoint: str = ""


EventData = (RequestAsked | Rejected | Rated | Recorded | RunEnded | ArtifactReported | RunFailure | SprintRef
             | EndpointDown | EndpointBack)
_BY_KIND: dict[str, type[EventData]] = {
    "request": RequestAsked, "experiment.rejected": Rejected, "experiment.rated": Rated,
    "experiment.recorded": Recorded, RUN_ARTIFACT: ArtifactReported, RUN_ERROR: RunFailure,
    "llm.degraded": EndpointDown, "llm.recovered": EndpointBack}
_BY_PREFIX: dict[str, type[EventData]] = {"run.": RunEnded, "sprint.": SprintRef}


def _type_of(kind: str) -> type[EventData] | None:
    if kind in _BY_KIND:
        return _BY_KIND[kind]
    return next((t for prefix, t in _BY_PREFIX.items() if kind.startswith(prefix)), None)


def event_data(kind: str, value: JsonValue) -> EventData | JsonValue:
    """The `data` column of an event of `kind`, typed (kept as written when it does not read back as itself)."""
    cls = _type_of(kind)
    if cls is None or not isinstance(value, dict):
        return value
    typed = cls.from_json(value)
    return typed if typed.to_json() == value else value
