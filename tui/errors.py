"""One place for the errors of every worker (Harlequin style): classify, tell the user, log.

A briefly locked database is retried quietly at the next refresh; only when it stays locked
does the status line say so. Anything unexpected is shown as a notification and written with
its traceback to `<lab>/tui.log`, and the control room keeps going.
"""

from __future__ import annotations

import sqlite3
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from db import DatabaseError, IllegalTransition, NotFound

if TYPE_CHECKING:
    from tui.app import ControlRoomApp

QUIET_FAILURES = 5  # consecutive "database is locked" before the status line mentions it


def is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (sqlite3.OperationalError, DatabaseError)) and ("locked" in text or "busy" in text)


class ReadOnlyRefusal(Exception):
    """A changing action asked for in --readonly mode."""


class ErrorHandler:
    def __init__(self, app: ControlRoomApp) -> None:
        self.app = app
        self.locked_in_a_row = 0
        self.last_problem: str | None = None

    def success(self) -> None:
        """A refresh went through: forget quiet failures."""
        if self.locked_in_a_row >= QUIET_FAILURES:
            self.app.set_db_problem(None)
        self.locked_in_a_row = 0

    def handle(self, exc: BaseException, where: str) -> None:
        if is_locked(exc):
            self.locked_in_a_row += 1
            if self.locked_in_a_row == QUIET_FAILURES:
                self.app.set_db_problem("database busy, retrying")
            return
        if isinstance(exc, ReadOnlyRefusal):
            self.app.notify(str(exc), title="read-only", severity="warning")
            return
        from agents.catalog import CatalogError, InvalidParams
        from agents.jobs import JobError
        from engine.control import EngineError

        if isinstance(exc, (InvalidParams, JobError, IllegalTransition, NotFound, CatalogError, EngineError)):
            self.app.notify(str(exc), title=where, severity="error", timeout=8)
            return
        if isinstance(exc, DatabaseError):
            self.app.set_db_problem(str(exc))
            self.app.notify(str(exc), title="database", severity="error", timeout=10)
            return
        self.last_problem = f"{where}: {exc!r}"
        log = self._log(exc, where)
        self.app.notify(f"{exc!r}" + (f"\n(details in {log})" if log else ""), title=f"error in {where}",
                        severity="error", timeout=10)

    def _log(self, exc: BaseException, where: str) -> Path | None:
        root = self.app.lab.root
        if not root.exists():
            return None
        path = root / "tui.log"
        try:
            with open(path, "a") as fh:
                fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {where}\n")
                fh.write("".join(traceback.format_exception(exc)))
        except OSError:
            return None
        return path
