"""Schema versions: created, upgraded in place, idempotent, and a newer one refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from contract.plan import PlanStep
from db import NewExperiment, RunDefaults, SchemaTooNewError, Store, schema


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
    exp_id = await store.create_experiment(NewExperiment(name="old", catalog="fake", params={}, plan=()))
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
    assert exp is not None and exp.name == "old"
    conn = sqlite3.connect(path)
    # the typed row holds the columns it knows; the migration's column is in the file, filled in
    assert conn.execute("SELECT tested_upgrade FROM experiments WHERE id = ?", (exp_id,)).fetchone() == ("yes",)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


async def test_a_newer_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "lab.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match="upgrade joulelab"):
        await Store.open(path)


async def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    from db import DatabaseError

    path = tmp_path / "lab.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="cannot open"):
        await Store.open(path)


async def test_a_lab_at_version_3_gets_the_runs_executor_columns_and_keeps_its_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab written before the executors (version 3: main's llm_endpoints was its last migration)
    opens at the current version with its runs intact and no executor recorded for them; a run
    then starts with its executor and job id."""
    import db.connection as connection

    path = tmp_path / "lab.db"
    monkeypatch.setattr(connection, "MIGRATIONS", schema.MIGRATIONS[:3])
    monkeypatch.setattr(connection, "SCHEMA_VERSION", 3)
    store = await Store.open(path)
    exp_id = await store.create_experiment(NewExperiment(
        name="old", catalog="fake", params={}, plan=(PlanStep("base"),)))
    await store.approve_experiment(exp_id, RunDefaults())
    await store.close()
    old = sqlite3.connect(path)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 3
    assert "executor" not in {r[1] for r in old.execute("PRAGMA table_info(runs)")}
    old.close()
    monkeypatch.undo()

    store = await Store.open(path)
    try:
        (run,) = await store.list_runs(exp_id)
        assert run.status == "queued" and run.executor is None and run.job_id is None
        await store.start_run(run.id, device="cpu", run_dir="/tmp/x", executor="ray", job_id="joulelab-run1-a1-x")
        started = await store.get_run(run.id)
        assert started is not None and (started.executor, started.job_id) == ("ray", "joulelab-run1-a1-x")
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 4
    assert conn.execute("SELECT COUNT(*) FROM llm_endpoints").fetchone()[0] == 0  # version 3's table kept
