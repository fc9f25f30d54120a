"""The events.jsonl writer (PROTOCOL.md §4): one JSON object per line, one write() per line."""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Protocol

from contract.events import Artifact, Error, Event, Log, Metric, Progress, Result, ResultValues, encode

ROOT = Path(__file__).resolve().parent.parent  # the checkout: source paths are said relative to it


def _short(filename: str) -> str:
    """A source file as the error says it: relative to the checkout or to site-packages, never the
    home directory it lives in."""
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(ROOT))
    except (ValueError, OSError):
        parts = path.parts
        return "/".join(parts[parts.index("site-packages") + 1:]) if "site-packages" in parts else path.name


def failure(exc: BaseException) -> Error:
    """The `error` event of an exception: its type, message, where it was raised and its traceback,
    file paths shortened; no locals and nothing of the environment (a run's holds no secret either:
    engine/runenv.py)."""
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f'  File "{_short(f.filename)}", line {f.lineno}, in {f.name}\n' + (f"    {f.line}\n" if f.line else "")
             for f in frames]
    last = frames[-1] if frames else None
    where = f"{_short(last.filename)}:{last.lineno} in {last.name}" if last else ""
    return Error(message=str(exc), error=type(exc).__name__, where=where,
                 traceback="".join(lines), t=round(time.time(), 3))


class RunEvents(Protocol):
    """What a training loop writes: the `EventWriter`, or a writer that also logs elsewhere
    (finetune/tracking.py's `Events`: each metric to W&B too)."""

    def metric(self, step: int, **values: float) -> None: ...

    def progress(self, done: float, total: float) -> None: ...

    def log(self, message: str, level: str = "info") -> None: ...


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

    def emit(self, event: Event) -> None:
        line = encode(event)
        if self._fd is not None:
            os.write(self._fd, line)  # O_APPEND + one write: a reader never sees half of two lines
        if self.echo and isinstance(event, Log):
            print(f"  [{event.level}] {event.message}", flush=True)
        elif self.echo and isinstance(event, Error):
            print(f"  [error] {event.summary()}", flush=True)

    @staticmethod
    def _now() -> float:
        return round(time.time(), 3)

    def metric(self, step: int, **values: float) -> None:
        self.emit(Metric(step=int(step), values=dict(values), t=self._now()))

    def progress(self, done: float, total: float, unit: str = "steps", force: bool = False) -> None:
        now = time.monotonic()
        if force or done >= total or now - self._last_progress >= self._progress_every_s:
            self._last_progress = now
            self.emit(Progress(done=done, total=total, unit=unit, t=self._now()))

    def log(self, message: str, level: str = "info") -> None:
        self.emit(Log(message=message, level=level, t=self._now()))

    def artifact(self, path: str, kind: str) -> None:
        self.emit(Artifact(path=path, what=kind, t=self._now()))

    def result(self, values: ResultValues) -> None:
        if self.result_written:
            raise RuntimeError("result already written")
        self.emit(Result(values=values, t=self._now()))
        self.result_written = True

    def error(self, exc: BaseException) -> None:
        """The run failed with `exc`: its `error` event, the last line before the program exits."""
        self.emit(failure(exc))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
