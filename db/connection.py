"""Opening the lab database: pragmas, and migrations applied automatically and idempotently."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from db.schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 5000


class DatabaseError(Exception):
    """The lab database cannot be used; the message says why and what to do."""


class SchemaTooNewError(DatabaseError):
    """The database was written by a newer Joule Lab than this one."""


def configure(conn: sqlite3.Connection) -> None:
    """WAL for readers that never block the writer; a busy timeout for brief locks."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


def _statements(script: str) -> list[str]:
    # Our migrations hold no ';' inside literals, so a plain split is exact.
    return [s.strip() for s in script.split(";") if s.strip()]


def migrate(conn: sqlite3.Connection, path: Path | str = "lab.db") -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before.

    Each migration runs in its own IMMEDIATE transaction and re-reads the version inside it,
    so two processes opening an old database at once apply each migration exactly once.
    """
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"{path} has schema version {found} but this Joule Lab knows only up to {SCHEMA_VERSION}: "
            "upgrade joulelab (pip install -U joulelab) or use another lab directory"
        )
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current >= SCHEMA_VERSION:
                conn.execute("COMMIT")
                return found
            for statement in _statements(MIGRATIONS[current]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def connect_sync(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """A plain sqlite3 connection (used inside the store's worker thread and by watchers)."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        if readonly:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        else:
            configure(conn)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot open {path}: {exc} (is it a Joule Lab database?)") from exc
    return conn
