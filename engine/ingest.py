"""Reading a run's events.jsonl from its last committed offset into one batch for the store.

Only complete lines (ending in a newline) are consumed; a half-written last line stays for the
next read, unless the run has ended, when it can never be completed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from db import IngestBatch

MAX_READ_BYTES = 8 * 1024 * 1024  # per read, so one chatty run cannot stall the engine
LOG_LEVELS = frozenset({"debug", "info", "warning", "error"})


STEP_MAX = 2 ** 63 - 1  # SQLite's INTEGER


def _number(value: object) -> float | None:
    """A finite float, or None (not a number, NaN, infinite, or too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _finite(value: object) -> object:
    """A result as strict JSON: NaN and infinities become null (SQLite and JSON have neither),
    integers too large for a double become null too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 1023:
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def parse_lines(batch: IngestBatch, lines: list[bytes]) -> None:
    """Add the events in `lines` to `batch`; malformed lines become warnings, never errors."""
    for raw in lines:
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError):  # RecursionError: nested deeper than any event
            batch.logs.append(("warning", f"run {batch.run_id}: ignored a malformed event line: "
                                          f"{raw[:120].decode('utf-8', 'replace')!r}"))
            continue
        kind = event.get("type")
        t = _number(event.get("t")) or 0.0
        if kind == "metric":
            step = event.get("step")
            values = event.get("values")
            if not isinstance(step, int) or isinstance(step, bool) or not -STEP_MAX <= step <= STEP_MAX \
                    or not isinstance(values, dict):
                batch.logs.append(("warning", f"run {batch.run_id}: metric event without step/values"))
                continue
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    if value is not None:
                        continue  # not a number: not a metric point
                # NaN, inf and overflowing numbers are kept as NULL (SQLite has no NaN): the run's
                # result says it diverged
                batch.metrics.append((step, str(key), _number(value), t))
        elif kind == "progress":
            done, total = _number(event.get("done")), _number(event.get("total"))
            if done is not None and total is not None:
                batch.progress = (done, total)
        elif kind == "log":
            level = str(event.get("level", "info"))
            message = event.get("message", "")
            text = message if isinstance(message, str) else json.dumps(_finite(message))
            batch.logs.append((level if level in LOG_LEVELS else "info", text[:2000]))
        elif kind == "artifact":
            path, what = event.get("path"), event.get("kind")
            if isinstance(path, str) and isinstance(what, (str, type(None))):
                batch.artifacts.append({"path": path[:1000], "kind": what})
            else:
                batch.logs.append(("warning", f"run {batch.run_id}: artifact event without a path"))
        elif kind == "result":
            values = event.get("values")
            if isinstance(values, dict):
                batch.result = _finite(values)  # type: ignore[assignment]
        else:
            batch.logs.append(("warning", f"run {batch.run_id}: ignored an event of unknown type {kind!r}"))


def read_batch(path: Path, run_id: int, attempt: int, offset: int, *, final: bool = False) -> IngestBatch | None:
    """The events after `offset`, or None when nothing complete was written since."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(MAX_READ_BYTES)
    except FileNotFoundError:
        return None
    if not data:
        return None
    end = data.rfind(b"\n") + 1
    more_follows = len(data) == MAX_READ_BYTES
    if final and not more_follows:
        end = len(data)  # the writer is gone: its unterminated last line is all there will be
    if end == 0:
        return None
    batch = IngestBatch(run_id=run_id, attempt=attempt, offset_from=offset, offset_to=offset + end)
    parse_lines(batch, data[:end].splitlines())
    return batch
