"""The store's rows as typed values: one frozen dataclass per table, JSON columns decoded once.

Every read of the store returns these (never a sqlite row or a dict): its JSON columns are
parsed here, at the store's edge, its states are the enums of `db.states`, its flags are bools.
A field's name is its column's name; a row is read by its attributes (`row.status`), and
`to_dict()` gives it as JSON holds it where it crosses a JSON edge (`lab ... --json`, exports).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Self, TypedDict, cast

from contract import requests as rq
from contract.deliverable import Deliverable, deliverables_of
from contract.event_data import EventData, event_data
from contract.events import ResultValues
from contract.experiment_metadata import ExperimentMetadata, metadata_of
from contract.finding_data import FindingData, KeptData, finding_data
from contract.jsonvalue import JsonValue, json_object
from contract.modifications import Modifications, modifications_of
from contract.params import ParamValues
from contract.plan import PlanStep, plan_of
from contract.rating_record import Breakdown
from contract.record_json import JsonRecord
from contract.runspec import DeviceKind
from db.states import EXPERIMENT_FINISHED, EndpointState, ExperimentState, MessageKind, RequestStatus, RunState, SprintStage

JSON_COLUMNS = frozenset({"modifications", "params", "plan", "deliverables", "metadata", "rating_breakdown", "variant_params",
                          "depends_on", "result", "data", "gpus", "payload", "response"})


def _plain(value: object) -> Any:
    """A typed JSON value (the rating's `Breakdown`) as JSON holds it."""
    if isinstance(value, JsonRecord):
        return value.to_json()
    raise TypeError(f"not JSON: {type(value).__name__}")


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True, default=_plain)


def row_dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 (a sqlite3.Row iterates its values, not its keys)
        value = row[key]
        if key in JSON_COLUMNS and isinstance(value, str):
            value = json.loads(value)
        out[key] = value
    return out


def rows_dicts(rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    return [row_dict(r) for r in rows]  # type: ignore[misc]


Convert = Callable[[Any], Any]  # a column's value -> the field's


class Row:
    """What every row type shares: built from a decoded row, given back as JSON at a JSON edge."""

    # per field, how a column's value becomes the field's (an enum, a bool, a default for NULL)
    CONVERT: ClassVar[dict[str, Convert]] = {}
    _NAMES: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def names(cls) -> tuple[str, ...]:
        if not cls.__dict__.get("_NAMES"):
            cls._NAMES = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        return cls._NAMES

    @classmethod
    def of(cls, row: dict[str, Any]) -> Self:
        """The row type from a decoded row (`Tx.one`/`Tx.all`); absent columns take their defaults."""
        convert = cls.CONVERT
        values = {name: (convert[name](row[name]) if name in convert else row[name])
                  for name in cls.names() if name in row}
        return cls(**values)

    @classmethod
    def maybe(cls, row: dict[str, Any] | None) -> Self | None:
        return None if row is None else cls.of(row)

    @classmethod
    def many(cls, rows: list[dict[str, Any]]) -> list[Self]:
        return [cls.of(r) for r in rows]

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON would hold it (`lab ... --json`, exports)."""
        return {name: _as_json(getattr(self, name)) for name in self.names()}


def _as_json(value: object) -> object:
    if isinstance(value, tuple):
        return [_as_json(x) for x in value]
    return value.to_json() if isinstance(value, JsonRecord) else value


def _breakdown(value: Any) -> Breakdown | None:
    """The stored rating breakdown, typed (None: not rated)."""
    return Breakdown.from_json(value) if isinstance(value, Mapping) and value else None


def _json_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _answer(value: Any) -> dict[str, str] | None:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Experiment(Row):
    """One experiment: what it asks (catalog entry, parameters, plan, seeds), where it stands,
    and what it concluded (rating and its breakdown, the record's commit)."""

    CONVERT: ClassVar[dict[str, Convert]] = {
        "status": ExperimentState, "params": _json_dict, "plan": plan_of, "deliverables": deliverables_of,
        "metadata": metadata_of, "modifications": modifications_of, "hypothesis": _text, "research_question": _text,
        "source": _text, "rating_breakdown": _breakdown,
    }

    id: int
    name: str
    catalog: str
    status: ExperimentState
    params: ParamValues
    plan: tuple[PlanStep, ...]  # its variants, in the order the catalog planned them
    seeds: int = 1
    parent_id: int | None = None
    modifications: Modifications = field(default_factory=Modifications)
    hypothesis: str = ""
    research_question: str = ""
    deliverables: tuple[Deliverable, ...] = ()
    metadata: ExperimentMetadata = field(default_factory=ExperimentMetadata)
    source: str = "cli"
    priority: int = 0
    rating: float | None = None
    rating_breakdown: Breakdown | None = None  # the validator's rating breakdown (None: not rated)
    reject_reason: str | None = None
    error: str | None = None
    git_sha: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    approved_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in EXPERIMENT_FINISHED

    @property
    def breakdown(self) -> Breakdown:
        """The rating breakdown; an empty one while the experiment is not rated."""
        return self.rating_breakdown or Breakdown()


@dataclass(frozen=True)
class FamilyMember(Row):
    """An experiment as its genealogy tree draws it (`experiment_family`): who, where it stands,
    and what it changed from its parent."""

    CONVERT: ClassVar[dict[str, Convert]] = {"status": ExperimentState, "modifications": modifications_of}

    id: int
    parent_id: int | None
    name: str
    catalog: str
    status: ExperimentState
    rating: float | None = None
    modifications: Modifications = field(default_factory=Modifications)  # what it changed from its parent


@dataclass(frozen=True)
class Run(Row):
    """One run: a variant of an experiment with one seed, its attempts, limits and result."""

    CONVERT: ClassVar[dict[str, Convert]] = {
        "status": RunState, "params": _json_dict, "variant_params": _json_dict, "depends_on": _json_list,
        "is_baseline": bool, "result": json_object, "device_kind": DeviceKind,
    }

    id: int
    experiment_id: int
    catalog: str
    variant: str
    seed: int
    status: RunState
    params: ParamValues
    variant_params: ParamValues  # the variant's own, over the experiment's
    depends_on: list[int]
    is_baseline: bool = False
    priority: int = 0
    attempt: int = 0
    max_attempts: int = 2
    device_kind: DeviceKind = DeviceKind.CPU
    device: str | None = None
    timeout_s: float | None = None
    mem_limit_bytes: int | None = None
    pid: int | None = None
    pid_start_time: float | None = None
    exit_code: int | None = None
    error: str | None = None
    run_dir: str | None = None
    ingest_offset: int = 0
    progress_done: float | None = None
    progress_total: float | None = None
    peak_rss_bytes: int | None = None
    energy_kwh: float | None = None
    energy_mode: str | None = None
    result: ResultValues | None = None  # the program's `result` event (PROTOCOL.md §5)
    created_at: float = 0.0
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    executor: str | None = None
    job_id: str | None = None


@dataclass(frozen=True)
class Request(Row):
    """A request to the engine as stored: its typed request (its kind and payload columns read by
    `contract.requests.read`, or what refuses them), who asked, and the engine's answer."""

    CONVERT: ClassVar[dict[str, Convert]] = {"status": RequestStatus, "response": _answer}

    id: int
    t: float
    kind: str
    target_kind: str
    target_id: int | None
    request: rq.Request | rq.Refused  # a payload that does not parse is kept as written, with the reason
    origin: str = "cli"
    status: RequestStatus = RequestStatus.PENDING
    response: dict[str, str] | None = None  # the engine's answer: {"message": ...} or {"error": ...}
    handled_at: float | None = None

    @classmethod
    def of(cls, row: Mapping[str, object]) -> Self:
        return super().of({**row, "request": rq.read(str(row["kind"]), row["target_id"], row["payload"])})


@dataclass(frozen=True)
class EngineRow(Row):
    """The engine's own row: its process, heartbeat and version."""

    id: int
    pid: int
    host: str
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    version: str


@dataclass(frozen=True)
class Sprint(Row):
    """A sprint of the research team, held by one host at a time (db/research.py)."""

    CONVERT: ClassVar[dict[str, Convert]] = {"stage": SprintStage, "topic": _text, "note": _text}

    id: int
    stage: SprintStage
    autonomy: int
    backend: str = "offline"
    experiment_id: int | None = None
    topic: str = ""
    host: str | None = None
    heartbeat_at: float | None = None
    note: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None


@dataclass(frozen=True)
class StoredFinding(Row):
    """A finding as the knowledge base keeps it (`science.findings.Finding` writes it)."""

    id: int
    experiment_id: int
    catalog: str
    variant: str | None
    kind: str
    text: str
    data: FindingData | KeptData  # typed by the kind; an unknown kind's or an older shape's kept as written
    created_at: float = 0.0

    @classmethod
    def of(cls, row: dict[str, Any]) -> Self:
        found = super().of(row)
        return replace(found, data=finding_data(found.kind, found.data))


@dataclass(frozen=True)
class Message(Row):
    """What an agent said (streamed while `streaming`), with its cost."""

    CONVERT: ClassVar[dict[str, Convert]] = {
        "kind": MessageKind, "streaming": bool, "text": _text, "backend": _text, "cost_usd": lambda v: float(v or 0.0),
    }

    id: int
    experiment_id: int | None
    agent: str
    kind: MessageKind = MessageKind.SAY
    text: str = ""
    streaming: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    cost_usd: float = 0.0
    backend: str = ""
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True)
class Event(Row):
    """One line of the audit log."""

    id: int
    t: float
    kind: str
    experiment_id: int | None
    run_id: int | None
    message: str
    data: EventData | JsonValue = None  # typed by the kind; an older shape kept as written

    @classmethod
    def of(cls, row: Mapping[str, object]) -> Self:
        return super().of({**row, "data": event_data(str(row["kind"]), cast(JsonValue, row["data"]))})


class GpuReading(TypedDict, total=False):
    """One GPU at one moment, as the engine's sampler read it (None: NVML could not say)."""

    index: int
    name: str | None
    util_pct: float | None
    mem_used_bytes: int | None
    mem_total_bytes: int | None
    power_w: float | None
    temp_c: float | None


@dataclass(frozen=True)
class SystemSample(Row):
    """The machine's load at one moment; `gpus` as the engine's sampler read them."""

    CONVERT: ClassVar[dict[str, Convert]] = {"gpus": _json_list}

    id: int
    t: float
    cpu_pct: float
    mem_used: int
    mem_total: int
    gpus: list[GpuReading]


@dataclass(frozen=True)
class LlmEndpoint(Row):
    """The health of one language-model endpoint (db/health.py)."""

    CONVERT: ClassVar[dict[str, Convert]] = {"state": EndpointState}

    endpoint: str
    label: str
    state: EndpointState
    reason: str = ""
    since: float | None = None
    retry_at: float | None = None
    failures: int = 0
    updated_at: float = 0.0

    @property
    def degraded(self) -> bool:
        return self.state == EndpointState.DEGRADED

