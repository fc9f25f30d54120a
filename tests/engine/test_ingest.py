"""Reading events files: complete lines only, malformed lines reported, NaN kept as missing."""

from __future__ import annotations

import json
from pathlib import Path

from contract.events import Error, encode
from contract.protocol import PROTOCOL
from engine.ingest import read_batch


def line(event: dict) -> bytes:
    return (json.dumps(event) + "\n").encode()


def test_a_half_written_last_line_is_left_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    full = line({"type": "metric", "step": 1, "values": {"loss": 0.5}, "t": 1.0})
    half = line({"type": "metric", "step": 2, "values": {"loss": 0.4}, "t": 2.0})
    path.write_bytes(full + half[:7])
    batch = read_batch(path, 1, 1, 0)
    assert batch is not None and batch.offset_to == len(full)
    assert batch.metrics == [(1, "loss", 0.5, 1.0)]
    assert read_batch(path, 1, 1, batch.offset_to) is None  # still nothing complete
    with open(path, "ab") as fh:
        fh.write(half[7:])
    second = read_batch(path, 1, 1, batch.offset_to)
    assert second is not None and second.metrics == [(2, "loss", 0.4, 2.0)]
    assert second.offset_to == path.stat().st_size


def test_an_unterminated_line_of_an_ended_run_is_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(line({"type": "result", "values": {"acc": 1}})[:-1])
    batch = read_batch(path, 1, 1, 0, final=True)
    assert batch is not None and batch.result == {"acc": 1}


def test_malformed_lines_become_warnings_and_every_event_kind_is_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join([
        b"{not json\n", line([1, 2]),
        line({"type": "metric", "step": 3, "values": {"loss": float("nan"), "acc": 0.9, "tag": "x"}}),
        line({"type": "metric", "values": {"loss": 1}}),
        line({"type": "progress", "done": 3, "total": 10}),
        line({"type": "log", "level": "error", "message": "hello"}),
        line({"type": "artifact", "path": "model.pt", "kind": "checkpoint"}),
        line({"type": "teleport"}),
    ]))
    batch = read_batch(path, 7, 1, 0)
    assert batch is not None
    assert [(s, k, v) for s, k, v, _ in batch.metrics] == [(3, "loss", None), (3, "acc", 0.9)]
    assert batch.progress == (3.0, 10.0)
    assert batch.artifacts == [("model.pt", "checkpoint")]
    levels = [lvl for lvl, _ in batch.logs]
    assert levels.count("warning") == 4 and ("error", "hello") in batch.logs


def test_the_error_event_is_the_batch_s_error_and_another_version_is_said_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    future = {"type": "metric", "v": PROTOCOL + 1, "step": 1, "values": {"loss": 1}}
    path.write_bytes(b"".join([line(future), line(future),
                               encode(Error(message="lr must be positive", error="ValueError", where="x.py:3 in f"))]))
    batch = read_batch(path, 7, 1, 0)
    assert batch is not None and batch.metrics == []
    assert batch.error == Error(message="lr must be positive", error="ValueError", where="x.py:3 in f")
    assert batch.logs == [("warning", f"run 7: ignored an event of protocol version {PROTOCOL + 1}; "
                                      f"this lab reads versions 1, {PROTOCOL}")]
