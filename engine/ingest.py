"""Reading a run's events.jsonl from its last committed offset into one batch for the store.

Only complete lines (ending in a newline) are consumed; a half-written last line stays for the
next read, unless the run has ended, when it can never be completed.
"""

from __future__ import annotations

from pathlib import Path

from contract.events import Artifact, Error, EventError, Log, Metric, Progress, Result, parse
from db import IngestBatch

MAX_READ_BYTES = 8 * 1024 * 1024  # per read, so one chatty run cannot stall the engine


def parse_lines(batch: IngestBatch, lines: list[bytes]) -> None:
    """Add the events in `lines` to `batch`; malformed lines become warnings, never errors."""
    for raw in lines:
        if not raw.strip():
            continue
        try:
            event = parse(raw)
        except EventError as exc:
            warning = ("warning", f"run {batch.run_id}: {exc}")
            if warning not in batch.logs:  # once a batch: a run of another version says so once
                batch.logs.append(warning)
            continue
        if isinstance(event, Metric):
            batch.metrics.extend((event.step, key, value, event.t) for key, value in event.values.items())
        elif isinstance(event, Progress):
            batch.progress = (event.done, event.total)
        elif isinstance(event, Log):
            batch.logs.append((event.level, event.message))
        elif isinstance(event, Artifact):
            batch.artifacts.append((event.path, event.what))
        elif isinstance(event, Result):
            batch.result = event.values
        elif isinstance(event, Error):
            batch.error = event  # the run's error in the store: the program's own message


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
