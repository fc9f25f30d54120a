"""The warm worker's messages (docs/PROTOCOL.md §3, "local, warm"): JSON lines between the
engine (engine/executors/warm.py) and the worker (experiments/worker.py). The worker's first line
is `Ready`; then each `ForkRequest` line is answered by `Forked` or `Refused`. One writer
(`encode`), one reader per direction (`parse_ready`, `parse_request`, `parse_answer`).

Their version is the run protocol's (`contract.protocol`): `Ready` carries it as `protocol`, and
`parse_ready` refuses a worker of another in one line; the messages after it are of its version."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from contract.jsonvalue import JsonObject, json_object, number_at
from contract.protocol import PROTOCOL


class MessageError(ValueError):
    """A line that is not the message expected: one line saying why."""


@dataclass(frozen=True)
class Ready:
    """The worker preloaded what it could and forks from now on."""

    pid: int
    module: str
    imported: int = 0                                     # modules imported before the first fork
    failed: dict[str, str] = field(default_factory=dict)  # preload name -> why it could not be imported
    codecarbon: str = "not loaded"
    threads: int = 1
    seconds: float = 0.0                                  # how long the imports took
    protocol: int = PROTOCOL
    ready: bool = True


@dataclass(frozen=True)
class ForkRequest:
    """Fork one run: `python -m` of `argv` in `cwd` with exactly `env`, its output in two files."""

    id: int
    argv: list[str]
    cwd: str
    env: dict[str, str]
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Forked:
    id: int
    pid: int
    start_time: float | None  # the process's start time (its identity with the pid)


@dataclass(frozen=True)
class Refused:
    id: int | None  # None: the request could not be read far enough to know its id
    error: str


Message = Ready | ForkRequest | Forked | Refused


def encode(message: Message) -> str:
    """The message's line, newline included."""
    return json.dumps(asdict(message)) + "\n"


def _object(line: bytes | str) -> JsonObject:
    """The line's JSON object, before it is read into its message."""
    try:
        value = json_object(json.loads(line))
    except (ValueError, RecursionError) as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if value is None:
        raise MessageError("not a JSON object")
    return value


def _get(data: Mapping[str, object], key: str, kinds: tuple[type, ...], *, nullable: bool = False) -> Any:
    if key not in data:
        raise MessageError(f"request without {key!r}")
    value = data[key]
    if (value is None and nullable) or (isinstance(value, kinds) and not isinstance(value, bool)):
        return value
    raise MessageError(f"{key!r} is {value!r:.60}")


def parse_ready(line: bytes | str) -> Ready | None:
    """The worker's first line; None when it is not a ready message (the worker failed);
    MessageError for a worker of another protocol."""
    try:
        data = _object(line)
    except MessageError:
        return None
    if data.get("ready") is not True:
        return None
    if data.get("protocol") != PROTOCOL:
        raise MessageError(f"the warm worker speaks protocol {data.get('protocol')!r:.20}; this lab speaks {PROTOCOL}")
    failed = data.get("failed")
    return Ready(pid=int(number_at(data, "pid") or 0), module=str(data.get("module", "")),
                 imported=int(number_at(data, "imported") or 0),
                 failed={str(k): str(v) for k, v in failed.items()} if isinstance(failed, dict) else {},
                 codecarbon=str(data.get("codecarbon", "not loaded")), threads=int(number_at(data, "threads") or 1),
                 seconds=float(number_at(data, "seconds") or 0.0), protocol=PROTOCOL)


def parse_request(line: bytes | str) -> ForkRequest:
    """A request line, or MessageError (answered with `Refused`)."""
    data = _object(line)
    argv, env = _get(data, "argv", (list,)), _get(data, "env", (dict,))
    return ForkRequest(id=_get(data, "id", (int,)), argv=[str(a) for a in argv], cwd=_get(data, "cwd", (str,)),
                       env={str(k): str(v) for k, v in env.items()}, stdout=_get(data, "stdout", (str,)),
                       stderr=_get(data, "stderr", (str,)))


def request_id(line: bytes | str) -> int | None:
    """The id of a request that could not be read, when it has one (for its `Refused`)."""
    try:
        value = _object(line).get("id")
    except MessageError:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_answer(line: bytes | str) -> Forked | Refused:
    """The worker's answer to a request; MessageError when the line is neither."""
    data = _object(line)
    if "error" in data:
        rid = data.get("id")
        return Refused(id=rid if isinstance(rid, int) else None, error=str(data["error"]))
    start_time = data.get("start_time")
    return Forked(id=_get(data, "id", (int,)), pid=_get(data, "pid", (int,)),
                  start_time=float(start_time) if isinstance(start_time, (int, float)) else None)
