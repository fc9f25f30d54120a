"""The events.jsonl writer (PROTOCOL.md §4): one JSON object per line, one write() per line."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class EventWriter:
    """Appends events to ``path``; progress events are throttled so the file stays small."""

    def __init__(self, path: str | os.PathLike[str] | None, echo: bool = False,
                 progress_every_s: float = 0.5) -> None:
        self.path = Path(path) if path is not None else None
        self.echo = echo
        self._fd: int | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._progress_every_s = progress_every_s
        self._last_progress = 0.0
        self.result_written = False

    def emit(self, type_: str, **fields: Any) -> None:
        event = {"type": type_, "t": round(time.time(), 3), **_clean(fields)}
        line = (json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n").encode()
        if self._fd is not None:
            os.write(self._fd, line)  # O_APPEND + one write: a reader never sees half of two lines
        if self.echo and type_ == "log":
            print(f"  [{fields.get('level', 'info')}] {fields.get('message', '')}", flush=True)

    def metric(self, step: int, **values: float) -> None:
        self.emit("metric", step=int(step), values=values)

    def progress(self, done: float, total: float, unit: str = "steps", force: bool = False) -> None:
        now = time.monotonic()
        if force or done >= total or now - self._last_progress >= self._progress_every_s:
            self._last_progress = now
            self.emit("progress", done=done, total=total, unit=unit)

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", level=level, message=message)

    def artifact(self, path: str, kind: str) -> None:
        self.emit("artifact", path=path, kind=kind)

    def result(self, values: dict[str, Any]) -> None:
        if self.result_written:
            raise RuntimeError("result already written")
        self.emit("result", values=values)
        self.result_written = True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
