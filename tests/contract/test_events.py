"""The run's events (docs/PROTOCOL.md §4): every kind written by the one writer and read back by
the one parser, and what the parser makes of lines that are not events."""

from __future__ import annotations

import json

import pytest

from contract.events import (
    TRACEBACK_MAX_CHARS,
    VERSIONS,
    Artifact,
    Error,
    Event,
    EventError,
    EventKind,
    Log,
    Metric,
    Progress,
    Result,
    encode,
    parse,
)
from contract.protocol import PROTOCOL

EXAMPLES: dict[EventKind, Event] = {
    EventKind.METRIC: Metric(step=3, values={"train_loss": 0.31, "val_accuracy": 0.94}, t=1.5),
    EventKind.PROGRESS: Progress(done=3.0, total=10.0, unit="epochs", t=2.0),
    EventKind.LOG: Log(message="data digits: 1797", level="warning", t=2.5),
    EventKind.ARTIFACT: Artifact(path="model.pt", what="checkpoint", t=3.0),
    EventKind.RESULT: Result(values={"test_accuracy": 0.9, "versions": {"torch": "2"}, "skipped": False}, t=4.0),
    EventKind.ERROR: Error(message="no variant 'x'", error="ExperimentError", where="runner.py:33 in resolve",
                           traceback='  File "runner.py", line 33, in resolve\n    raise ExperimentError(...)', t=5.0),
}


def test_every_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(EventKind)


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_written_is_parsed_back_the_same(kind: EventKind) -> None:
    event = EXAMPLES[kind]
    line = encode(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = json.loads(line)
    assert data["type"] == kind.value and data["t"] == event.t  # the wire of PROTOCOL.md §4
    assert data["v"] == PROTOCOL
    assert parse(line) == event


def test_non_finite_numbers_are_written_as_null_and_read_as_missing_points() -> None:
    line = encode(Metric(step=1, values={"loss": float("nan"), "acc": 0.5}))
    assert b"NaN" not in line
    assert parse(line) == Metric(step=1, values={"loss": None, "acc": 0.5})
    assert parse(encode(Result(values={"x": float("inf")}))) == Result(values={"x": None})


def test_lines_that_are_not_events() -> None:
    with pytest.raises(EventError, match="malformed"):
        parse(b"{not json")
    with pytest.raises(EventError, match="malformed"):
        parse(b"[1, 2]")
    with pytest.raises(EventError, match="unknown type 'nope'"):
        parse(b'{"type": "nope"}')
    with pytest.raises(EventError, match="without step/values"):
        parse(b'{"type": "metric", "step": "1", "values": {}}')
    with pytest.raises(EventError, match="without a path"):
        parse(b'{"type": "artifact", "kind": "plot"}')
    assert parse(b'{"type": "progress", "done": "a", "total": 2}') is None  # nothing usable
    assert parse(b'{"type": "result", "values": 3}') is None
    # what the parser repairs: an unknown level, a message that is not text, values that are not numbers
    assert parse(b'{"type": "log", "level": "loud", "message": {"a": 1}}') == Log(message='{"a": 1}')
    assert parse(b'{"type": "metric", "step": 2, "values": {"a": true, "b": "x", "c": 1}}') == \
        Metric(step=2, values={"c": 1.0})


def test_an_error_is_bounded_and_says_itself_in_one_line() -> None:
    long = Error(message="first line\nsecond", error="ValueError", traceback="x" * (3 * TRACEBACK_MAX_CHARS) + "end")
    read = parse(encode(long))
    assert isinstance(read, Error) and read.summary() == "ValueError: first line"
    assert len(read.traceback) == TRACEBACK_MAX_CHARS and read.traceback.endswith("end")  # its tail
    assert parse(b'{"type": "error", "message": 3}') == Error(message="")  # fields of other types: empty


def test_versions_a_line_without_v_is_of_1_and_another_is_refused_in_one_line() -> None:
    assert VERSIONS == (1, PROTOCOL)
    assert parse(b'{"type": "log", "message": "old"}') == Log(message="old")  # a lab before `v`
    assert parse(b'{"type": "log", "v": 1, "message": "old"}') == Log(message="old")
    for version in (PROTOCOL + 1, "2", True, None):
        with pytest.raises(EventError, match="protocol version") as err:
            parse(json.dumps({"type": "log", "v": version, "message": "new"}))
        assert "\n" not in str(err.value)
    with pytest.raises(EventError, match="unknown type 'warning'") as err:
        parse(json.dumps({"type": "warning", "v": PROTOCOL}))
    assert "\n" not in str(err.value)
