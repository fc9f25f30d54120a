"""Noticing that another process changed the database, cheaply: `PRAGMA data_version`.

The value changes whenever another connection commits; reading it touches only the WAL index,
so polling it many times a second costs next to nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from db.connection import connect_sync


class ChangeWatcher:
    def __init__(self, path: Path | str) -> None:
        self._conn: sqlite3.Connection = connect_sync(path, readonly=True)
        self._last = self._version()

    def _version(self) -> int:
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def changed(self) -> bool:
        """True when another connection committed since the last call."""
        current = self._version()
        if current != self._last:
            self._last = current
            return True
        return False

    def close(self) -> None:
        self._conn.close()
