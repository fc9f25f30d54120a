"""Schema versions: created, upgraded in place, idempotent, and a newer one refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from db import NewExperiment, SchemaTooNew, Store
from db import schema


async def test_fresh_database_is_at_the_current_version_in_wal_mode(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "lab.db")
    await store.close()
    conn = sqlite3.connect(tmp_path / "lab.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"experiments", "runs", "metrics", "messages", "events", "system_samples", "requests"} <= tables


async def test_opening_twice_applies_nothing_twice(tmp_path: Path) -> None:
    for _ in range(3):
        store = await Store.open(tmp_path / "lab.db")
        await store.close()
    conn = sqlite3.connect(tmp_path / "lab.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


async def test_an_older_database_is_upgraded_and_keeps_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lab.db"
    store = await Store.open(path)
    exp_id = await store.create_experiment(NewExperiment(name="old", catalog="fake", params={}, plan=[]))
    await store.close()
    upgrade = "ALTER TABLE experiments ADD COLUMN tested_upgrade TEXT DEFAULT 'yes'"
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, upgrade])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    import db.connection as connection

    monkeypatch.setattr(connection, "MIGRATIONS", schema.MIGRATIONS)
    monkeypatch.setattr(connection, "SCHEMA_VERSION", schema.SCHEMA_VERSION)
    store = await Store.open(path)
    exp = await store.get_experiment(exp_id)
    await store.close()
    assert exp is not None and exp["name"] == "old" and exp["tested_upgrade"] == "yes"
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


async def test_a_newer_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "lab.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade joulelab"):
        await Store.open(path)


async def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    from db import DatabaseError

    path = tmp_path / "lab.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="cannot open"):
        await Store.open(path)
