"""The warm worker's messages: each written by the one writer and read back by its reader."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contract.protocol import PROTOCOL
from contract.warmworker import (
    Forked,
    ForkRequest,
    MessageError,
    Ready,
    Refused,
    encode,
    parse_answer,
    parse_ready,
    parse_request,
    request_id,
)


def test_every_message_written_is_read_back_the_same() -> None:
    ready = Ready(pid=41, module="experiments", imported=812, failed={"transformers": "ImportError: x"},
                  codecarbon="prepaid", threads=1, seconds=2.5)
    assert parse_ready(encode(ready)) == ready
    request = ForkRequest(id=3, argv=["experiments", "logreg", "--spec", "spec.json"], cwd="/lab/runs/3",
                          env={"OMP_NUM_THREADS": "2"}, stdout="/lab/runs/3/stdout", stderr="/lab/runs/3/stderr")
    assert parse_request(encode(request)) == request
    forked = Forked(id=3, pid=4242, start_time=1234.5)
    assert parse_answer(encode(forked)) == forked
    refused = Refused(id=3, error="the worker has 2 threads; forking it is unsafe")
    assert parse_answer(encode(refused)) == refused
    assert all(encode(m).endswith("\n") and encode(m).count("\n") == 1 for m in (ready, request, forked, refused))


def test_what_is_not_a_message() -> None:
    assert parse_ready(b"Traceback (most recent call last):") is None  # the worker failed to start
    assert parse_ready(b'{"ready": false}') is None
    with pytest.raises(MessageError, match="'argv'"):
        parse_request('{"id": 1, "cwd": "/", "env": {}, "stdout": "o", "stderr": "e"}')
    with pytest.raises(MessageError, match="'env'"):
        parse_request('{"id": 1, "argv": [], "cwd": "/", "env": [], "stdout": "o", "stderr": "e"}')
    with pytest.raises(MessageError, match="JSON"):
        parse_request("[1]")
    assert request_id('{"id": 7, "argv": 3}') == 7 and request_id("nope") is None
    with pytest.raises(MessageError):
        parse_answer(b'{"id": 1}')
    assert parse_answer(b'{"id": null, "error": "bad request: not JSON"}') == Refused(None, "bad request: not JSON")


def test_a_worker_of_another_protocol_is_refused_in_one_line() -> None:
    line = encode(replace(Ready(pid=41, module="experiments"), protocol=PROTOCOL + 1))
    with pytest.raises(MessageError, match=f"speaks protocol {PROTOCOL + 1}; this lab speaks {PROTOCOL}") as err:
        parse_ready(line)
    assert "\n" not in str(err.value)
