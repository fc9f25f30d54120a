"""What other processes may ask the engine, one typed request per kind (as pueue's `Request`).

A request is made as one of these dataclasses (the control room, the command line, the agents),
checked where it is made (`check()` raises InvalidRequestError with a one-line reason), written to the
requests table as (kind, target_kind, target_id, payload), and read back by the engine with
`parse()` (the store, through `read()`, as the row's typed request), which checks it again: a row
written by an older or foreign client is read as `Refused`, answered with the same message instead
of reaching a handler half-formed. The engine has one handler per kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypedDict

from contract.jsonvalue import JsonObject, JsonValue, json_object
from contract.limits import BACKENDS, PROFILES, priority_problem, seeds_problem
from contract.params import ParamValues, param_values
from contract.record_json import COLUMN, OPT, JsonRecord

#: lab settings a request may change, with their type and bounds
SETTINGS: dict[str, tuple[type, int | None, int | None]] = {
    "autonomy": (int, 1, 3), "research": (bool, None, None), "paused": (bool, None, None),
    "research_profile": (str, None, None), "research_backend": (str, None, None)}
#: the values a text setting may take
SETTING_CHOICES: dict[str, tuple[str, ...]] = {"research_profile": PROFILES, "research_backend": BACKENDS}


class InvalidRequestError(ValueError):
    """A request that cannot be made as given; the message says what is wrong."""


@dataclass(frozen=True)
class _Request(JsonRecord):
    """A request: its payload is its fields but the target's id (`to_json`, the requests row's payload)."""

    kind: ClassVar[str]
    target_kind: ClassVar[str] = "experiment"

    @property
    def target_id(self) -> int | None:
        return None


    def check(self) -> None:
        """Raise InvalidRequestError when a field is out of its bounds."""

    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        return cls()


def _target(target_id: object, what: str) -> int:
    if not isinstance(target_id, int) or isinstance(target_id, bool) or target_id < 1:
        raise InvalidRequestError(f"{what}: expected a positive id, got {target_id!r}")
    return target_id


def _text(payload: Mapping[str, JsonValue], key: str, default: str) -> str:
    value = payload.get(key)
    return str(value) if value not in (None, "") else default


@dataclass(frozen=True)
class _OnExperiment(_Request):
    exp_id: int = field(default=0, metadata=COLUMN)

    @property
    def target_id(self) -> int | None:
        return self.exp_id

    def check(self) -> None:
        _target(self.exp_id, f"{self.kind} needs an experiment")


@dataclass(frozen=True)
class Approve(_OnExperiment):
    kind: ClassVar[str] = "approve"
    note: str = "approved"


    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        return cls(_target(target_id, "approve needs an experiment"), _text(payload, "note", "approved"))


@dataclass(frozen=True)
class Reject(_OnExperiment):
    kind: ClassVar[str] = "reject"
    reason: str = "no reason given"


    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        return cls(_target(target_id, "reject needs an experiment"), _text(payload, "reason", "no reason given"))


@dataclass(frozen=True)
class Edit(_OnExperiment):
    """Change a waiting proposal's parameters (merged over its own) and/or its seeds."""

    kind: ClassVar[str] = "edit"
    params: ParamValues = field(default_factory=dict)
    seeds: int | None = field(default=None, metadata=OPT)


    def check(self) -> None:
        super().check()
        if not isinstance(self.params, dict):
            raise InvalidRequestError(f"edit: params must be an object of parameter values, got {self.params!r}")
        if self.seeds is not None and (problem := seeds_problem(self.seeds)):
            raise InvalidRequestError(f"edit: seeds {problem}")

    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        exp_id, raw, seeds = _target(target_id, "edit needs an experiment"), payload.get("params") or {}, payload.get("seeds")
        params = param_values(raw)
        if params is None:
            raise InvalidRequestError(f"edit: params must be an object of parameter values, got {raw!r}")
        if seeds is not None and (problem := seeds_problem(seeds)):
            raise InvalidRequestError(f"edit: seeds {problem}")
        return cls(exp_id, params, seeds if isinstance(seeds, int) else None)


@dataclass(frozen=True)
class Cancel(_OnExperiment):
    kind: ClassVar[str] = "cancel"
    reason: str = "cancelled by request"


    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        return cls(_target(target_id, "cancel needs an experiment"), _text(payload, "reason", "cancelled by request"))


@dataclass(frozen=True)
class CancelRun(_Request):
    kind: ClassVar[str] = "cancel_run"
    target_kind: ClassVar[str] = "run"
    run_id: int = field(default=0, metadata=COLUMN)
    reason: str = "cancelled by request"

    @property
    def target_id(self) -> int | None:
        return self.run_id


    def check(self) -> None:
        _target(self.run_id, "cancel_run needs a run")

    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        return cls(_target(target_id, "cancel_run needs a run"), _text(payload, "reason", "cancelled by request"))


@dataclass(frozen=True)
class Retry(_OnExperiment):
    kind: ClassVar[str] = "retry"

    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        return cls(_target(target_id, "retry needs an experiment"))


@dataclass(frozen=True)
class Priority(_OnExperiment):
    kind: ClassVar[str] = "priority"
    priority: int = 0


    def check(self) -> None:
        super().check()
        if problem := priority_problem(self.priority):
            raise InvalidRequestError(f"priority: {problem}")

    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        exp_id, priority = _target(target_id, "priority needs an experiment"), payload.get("priority")
        if problem := priority_problem(priority):
            raise InvalidRequestError(f"priority: {problem}")
        return cls(exp_id, priority if isinstance(priority, int) else 0)


@dataclass(frozen=True)
class Pause(_Request):
    kind: ClassVar[str] = "pause"
    target_kind: ClassVar[str] = "lab"


@dataclass(frozen=True)
class Resume(_Request):
    kind: ClassVar[str] = "resume"
    target_kind: ClassVar[str] = "lab"


@dataclass(frozen=True)
class Warm(_Request):
    """Start what makes the next run start fast (the warm worker): a run is about to be queued."""

    kind: ClassVar[str] = "warm"
    target_kind: ClassVar[str] = "lab"


@dataclass(frozen=True)
class Setting(_Request):
    kind: ClassVar[str] = "setting"
    target_kind: ClassVar[str] = "lab"
    key: str = ""
    value: JsonValue = None  # checked against SETTINGS: an int, a bool or a str


    def check(self) -> None:
        if self.key not in SETTINGS:
            raise InvalidRequestError(f"unknown setting {self.key!r}; known: {', '.join(SETTINGS)}")
        kind, lo, hi = SETTINGS[self.key]
        bad = not isinstance(self.value, kind) or (kind is int and isinstance(self.value, bool))
        if not bad and isinstance(self.value, int) and lo is not None and hi is not None:
            bad = not lo <= self.value <= hi
        if not bad and kind is str:
            bad = self.value not in SETTING_CHOICES[self.key]
        if bad:
            expected = (f"an integer {lo}..{hi}" if kind is int else "true or false" if kind is bool
                        else "one of " + ", ".join(SETTING_CHOICES[self.key]))
            raise InvalidRequestError(f"{self.key} must be {expected}, got {self.value!r}")

    @classmethod
    def _from(cls, target_id: object, payload: Mapping[str, JsonValue]) -> _Request:
        return cls(str(payload.get("key")), payload.get("value"))


Request = Approve | Reject | Edit | Cancel | CancelRun | Retry | Priority | Pause | Resume | Warm | Setting
KINDS: dict[str, type[_Request]] = {c.kind: c for c in (Approve, Reject, Edit, Cancel, CancelRun, Retry,
                                                          Priority, Pause, Resume, Warm, Setting)}


def parse(kind: str, target_id: object, payload: object) -> Request:
    """The typed request of a requests row, checked; InvalidRequestError says what is wrong."""
    cls = KINDS.get(kind)
    if cls is None:
        raise InvalidRequestError(f"unknown request {kind!r}; known: {', '.join(KINDS)}")
    given = {} if payload is None else json_object(payload)
    if given is None:
        raise InvalidRequestError(f"{kind}: the payload must be an object, got {payload!r}")
    request = cls._from(target_id, given)
    request.check()
    return request  # type: ignore[return-value]


@dataclass(frozen=True)
class Refused:
    """A requests row that does not parse (written by an older or foreign client, or by hand): kept
    as written, and answered with `error`, the one-line reason `parse` gives."""

    kind: str
    payload: object  # the payload column as written
    error: str


def read(kind: str, target_id: object, payload: object) -> Request | Refused:
    """A requests row's typed request, or what refuses it (the store reads every row through this)."""
    try:
        return parse(kind, target_id, payload)
    except InvalidRequestError as exc:
        return Refused(kind, payload, str(exc))
    except Exception as exc:  # a bug in a kind's reading: the asker is told, the store keeps reading
        return Refused(kind, payload, f"internal error: {exc!r}")


def make(request: Request) -> Request:
    """The typed request, checked where it is made (InvalidRequestError says what is wrong)."""
    request.check()
    return request


class RequestRow(TypedDict):
    """The requests table's columns of one request (the store's add_request keywords)."""

    kind: str
    target_kind: str
    target_id: int | None
    payload: JsonObject


def row(request: Request) -> RequestRow:
    """The requests table's columns of `request`."""
    return RequestRow(kind=request.kind, target_kind=request.target_kind, target_id=request.target_id,
                      payload=request.to_json())
