"""The run's events (docs/PROTOCOL.md §4): one JSON object per line of events.jsonl, written by the
experiment program and read by the engine. One writer (`encode`), one parser (`parse`); the kinds
are `EventKind`, the values the event types below.

Each line carries its version as `v`, the run protocol's (`contract.protocol`): the engine can meet
the lines of a program older than itself (a run re-attached after an upgrade), so a line says what
it is. `parse` reads the versions in `VERSIONS` (a line without `v` is of 1) and refuses another in
one line, as it refuses a kind it does not know."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from .jsonvalue import JsonObject
from .protocol import PROTOCOL

LOG_LEVELS = ("debug", "info", "warning", "error")
STEP_MAX = 2 ** 63 - 1  # SQLite's INTEGER
LOG_MAX_CHARS = 2000
PATH_MAX_CHARS = 1000
ERROR_NAME_MAX_CHARS = 200
TRACEBACK_MAX_CHARS = 4000
VERSIONS = (1, PROTOCOL)  # the event versions `parse` reads: 1 (no `v`) and this protocol's


class EventKind(StrEnum):
    METRIC = "metric"        # a point on the curves
    PROGRESS = "progress"    # done of total, drives the progress bar and ETA
    LOG = "log"              # a line for the log view
    ARTIFACT = "artifact"    # a file the run produced
    RESULT = "result"        # the final values, written once, last
    ERROR = "error"          # why the program failed, written last before it exits non-zero


@dataclass(frozen=True)
class Metric:
    step: int
    values: dict[str, float | None]  # None: NaN, infinite or too large (the result says it diverged)
    t: float = 0.0
    kind: ClassVar[EventKind] = EventKind.METRIC


@dataclass(frozen=True)
class Progress:
    done: float
    total: float
    unit: str = "steps"
    t: float = 0.0
    kind: ClassVar[EventKind] = EventKind.PROGRESS


@dataclass(frozen=True)
class Log:
    message: str
    level: str = "info"  # one of LOG_LEVELS
    t: float = 0.0
    kind: ClassVar[EventKind] = EventKind.LOG


@dataclass(frozen=True)
class Artifact:
    path: str            # relative to the run's output_dir
    what: str | None     # its kind on the wire: checkpoint, plot, model, ...
    t: float = 0.0
    kind: ClassVar[EventKind] = EventKind.ARTIFACT


#: a run's result values (PROTOCOL.md §5): the `result` event's JSON object, its keys the
#: technique's (the metrics with their units in their names, the settings that made them)
ResultValues = JsonObject


@dataclass(frozen=True)
class Result:
    values: ResultValues
    t: float = 0.0
    kind: ClassVar[EventKind] = EventKind.RESULT


@dataclass(frozen=True)
class Error:
    """The program failed: its own message, for the run's error in the lab (not a stderr tail).
    Nothing of the environment: the exception's type and message, where it was raised and the
    tail of its traceback (file, line, code), each bounded."""

    message: str
    error: str = ""      # the exception's type, e.g. ValueError ("" for an error without one)
    where: str = ""      # file:line in function where it was raised
    traceback: str = ""  # the traceback's last TRACEBACK_MAX_CHARS characters
    t: float = 0.0
    kind: ClassVar[EventKind] = EventKind.ERROR

    def summary(self) -> str:
        """One line for the run's error: `ValueError: the message`."""
        first = self.message.strip().splitlines()[0] if self.message.strip() else "(no message)"
        return f"{self.error}: {first}" if self.error else first


Event = Metric | Progress | Log | Artifact | Result | Error


class EventError(ValueError):
    """A line that is not an event the engine can use: the warning it gets in the run's log."""


def finite(value: Any) -> Any:
    """As strict JSON: NaN and infinities become null (SQLite and JSON have neither), integers too
    large for a double become null too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 1023:
        return None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def number(value: object) -> float | None:
    """A finite float, or None (not a number, NaN, infinite, or too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _fields(event: Event) -> JsonObject:
    if isinstance(event, Metric):
        return {"step": int(event.step), "values": event.values}
    if isinstance(event, Progress):
        return {"done": event.done, "total": event.total, "unit": event.unit}
    if isinstance(event, Log):
        return {"level": event.level, "message": event.message}
    if isinstance(event, Artifact):
        return {"path": event.path, "kind": event.what}
    if isinstance(event, Error):
        return {"message": event.message[:LOG_MAX_CHARS], "error": event.error[:ERROR_NAME_MAX_CHARS],
                "where": event.where[:PATH_MAX_CHARS], "traceback": event.traceback[-TRACEBACK_MAX_CHARS:]}
    return {"values": event.values}


def encode(event: Event) -> bytes:
    """The event's line of events.jsonl, newline included (write it with one write())."""
    line = {"type": event.kind.value, "v": PROTOCOL, "t": event.t, **finite(_fields(event))}
    return (json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _metric(event: Mapping[str, object], t: float) -> Metric:
    step, values = event.get("step"), event.get("values")
    if not isinstance(step, int) or isinstance(step, bool) or not -STEP_MAX <= step <= STEP_MAX \
            or not isinstance(values, dict):
        raise EventError("metric event without step/values")
    # a value that is not a number is not a metric point; NaN, inf and overflowing numbers are kept
    # as None
    points = {str(k): number(v) for k, v in values.items()
              if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}
    return Metric(step=step, values=points, t=t)


def _log(event: Mapping[str, object], t: float) -> Log:
    level = str(event.get("level", "info"))
    message = event.get("message", "")
    text = message if isinstance(message, str) else json.dumps(finite(message))
    return Log(message=text[:LOG_MAX_CHARS], level=level if level in LOG_LEVELS else "info", t=t)


def _artifact(event: Mapping[str, object], t: float) -> Artifact:
    path, what = event.get("path"), event.get("kind")
    if not isinstance(path, str) or not isinstance(what, (str, type(None))):
        raise EventError("artifact event without a path")
    return Artifact(path=path[:PATH_MAX_CHARS], what=what, t=t)


def _error(event: Mapping[str, object], t: float) -> Error:
    def text(key: str) -> str:
        value = event.get(key)
        return value if isinstance(value, str) else ""

    return Error(message=text("message")[:LOG_MAX_CHARS], error=text("error")[:ERROR_NAME_MAX_CHARS],
                 where=text("where")[:PATH_MAX_CHARS], traceback=text("traceback")[-TRACEBACK_MAX_CHARS:], t=t)


def parse(raw: bytes | str) -> Event | None:
    """The event on one line; None for an event with nothing usable (a progress without numbers, a
    result without values); EventError for a line that is not an event."""
    try:
        event = json.loads(raw)
        if not isinstance(event, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError):  # RecursionError: nested deeper than any event
        text = raw[:120].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:120]
        raise EventError(f"ignored a malformed event line: {text!r}") from None
    version = event.get("v", 1)
    if isinstance(version, bool) or version not in VERSIONS:
        raise EventError(f"ignored an event of protocol version {version!r:.20}; this lab reads versions "
                         f"{', '.join(map(str, VERSIONS))}")
    t = number(event.get("t")) or 0.0
    try:
        kind = EventKind(str(event.get("type")))
    except ValueError:
        raise EventError(f"ignored an event of unknown type {event.get('type')!r}") from None
    if kind is EventKind.METRIC:
        return _metric(event, t)
    if kind is EventKind.PROGRESS:
        done, total = number(event.get("done")), number(event.get("total"))
        if done is None or total is None:
            return None
        unit = event.get("unit")
        return Progress(done=done, total=total, unit=unit if isinstance(unit, str) else "steps", t=t)
    if kind is EventKind.LOG:
        return _log(event, t)
    if kind is EventKind.ARTIFACT:
        return _artifact(event, t)
    if kind is EventKind.ERROR:
        return _error(event, t)
    values = event.get("values")
    return Result(values=finite(values), t=t) if isinstance(values, dict) else None
