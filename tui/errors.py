"""One place for the errors of every worker (Harlequin style): classify, say how to tell the
user, log. Workers post `WorkerFailed` (tui/messages.py); the app asks `ErrorHandler.classify`
what to show and shows it, so this module never touches the app.

A briefly locked database is retried quietly at the next refresh; only when it stays locked
does the status line say so. Anything unexpected is shown as a notification and written with
its traceback to `<lab>/tui.log`, and the control room keeps going.
"""

from __future__ import annotations

import sqlite3
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from db import DatabaseError, IllegalTransitionError, NotFoundError

QUIET_FAILURES = 5  # consecutive "database is locked" before the status line mentions it


def is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (sqlite3.OperationalError, DatabaseError)) and ("locked" in text or "busy" in text)


class ReadOnlyError(Exception):
    """A changing action asked for in --readonly mode."""


@dataclass(frozen=True)
class Notice:
    """A notification to show."""

    text: str
    title: str
    severity: str = "error"
    timeout: float = 10.0


@dataclass(frozen=True)
class DbProblem:
    """What the status line says of the database (None: nothing, the problem is over)."""

    text: str | None


Outcome = Notice | DbProblem


class ErrorHandler:
    def __init__(self, lab_root: Path) -> None:
        self.lab_root = lab_root
        self.locked_in_a_row = 0
        self.last_problem: str | None = None

    def success(self) -> list[Outcome]:
        """A refresh went through: forget quiet failures."""
        over = self.locked_in_a_row >= QUIET_FAILURES
        self.locked_in_a_row = 0
        return [DbProblem(None)] if over else []

    def classify(self, exc: BaseException, where: str) -> list[Outcome]:
        if is_locked(exc):
            self.locked_in_a_row += 1
            return [DbProblem("database busy, retrying")] if self.locked_in_a_row == QUIET_FAILURES else []
        if isinstance(exc, ReadOnlyError):
            return [Notice(str(exc), "read-only", "warning", 5.0)]
        from contract.requests import InvalidRequestError
        from engine.control import EngineError
        from science.catalog import CatalogError, InvalidParamsError
        from science.jobs import JobError

        if isinstance(exc, (InvalidParamsError, JobError, IllegalTransitionError, NotFoundError, CatalogError, EngineError,
                            InvalidRequestError)):
            return [Notice(str(exc), where, "error", 8.0)]
        if isinstance(exc, DatabaseError):
            return [DbProblem(str(exc)), Notice(str(exc), "database", "error", 10.0)]
        self.last_problem = f"{where}: {exc!r}"
        log = self._log(exc, where)
        return [Notice(f"{exc!r}" + (f"\n(details in {log})" if log else ""), f"error in {where}")]

    def _log(self, exc: BaseException, where: str) -> Path | None:
        if not self.lab_root.exists():
            return None
        path = self.lab_root / "tui.log"
        try:
            with open(path, "a") as fh:
                fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {where}\n")
                fh.write("".join(traceback.format_exception(exc)))
        except OSError:
            return None
        return path
