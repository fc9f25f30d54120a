"""The lab client both the command line and the control room send through (tui/client.py), and
the classification of workers' errors (tui/errors.py), without the app: a real store in a
temporary lab."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from contract import requests as rq
from contract.layout import LabDir
from db import DatabaseError, NewExperiment, Store
from tui.client import LabClient
from tui.errors import QUIET_FAILURES, DbProblem, ErrorHandler, Notice, ReadOnlyError

PLAN = [{"name": "base", "baseline": True, "depends_on": [], "params": {}}]


async def _client(tmp_path: Path) -> LabClient:
    lab = LabDir(tmp_path / "lab").ensure()
    return LabClient(lab, await Store.open(lab.db), "tui")


async def test_a_request_is_written_typed_and_its_answer_read_back(tmp_path: Path) -> None:
    client = await _client(tmp_path)
    try:
        exp_id = await client.store.create_experiment(NewExperiment(name="t", catalog="fake", params={}, plan=PLAN))
        req_id = await client.send(rq.Priority(exp_id, 5))
        row = await client.store.get_request(req_id)
        assert row.kind == "priority" and row.origin == "tui" and row.request == rq.Priority(exp_id, 5)
        waiting = await client.answer(req_id, timeout=0.1)
        assert waiting.pending and not waiting.ok and f"request {req_id} stays queued" in waiting.message

        async def engine_answers() -> None:
            await asyncio.sleep(0.1)
            await client.store.complete_request(req_id, False, {"error": "experiment 1 is done"})

        answering = asyncio.create_task(engine_answers())
        answer = await client.answer(req_id, timeout=5)
        await answering
        assert (answer.ok, answer.message, answer.pending) == (False, "experiment 1 is done", False)
    finally:
        await client.store.close()


async def test_a_bad_request_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    client = await _client(tmp_path)
    try:
        with pytest.raises(rq.InvalidRequestError, match="priority: expected a whole number from -1000 to 1000"):
            await client.send(rq.Priority(1, 10**6))
        async with client.store.reading() as tx:
            assert await tx.all("SELECT * FROM requests") == []
    finally:
        await client.store.close()


async def test_an_approved_experiment_gets_the_run_limits_of_config_toml(tmp_path: Path) -> None:
    client = await _client(tmp_path)
    try:
        cfg = client.lab.config
        cfg.write_text(cfg.read_text().replace("timeout_s = 3600", "timeout_s = 120"))
        made = await client.record_approved(NewExperiment(name="t", catalog="fake", params={}, plan=PLAN, seeds=2))
        runs = await client.store.list_runs(made.experiment_id)
        assert [r.id for r in runs] == made.run_ids and len(runs) == 2
        assert {r.timeout_s for r in runs} == {120}
        assert (await client.store.get_experiment(made.experiment_id)).status == "approved"
    finally:
        await client.store.close()


def test_a_locked_database_is_quiet_until_it_lasts_then_named_then_cleared(tmp_path: Path) -> None:
    errors = ErrorHandler(tmp_path)
    locked = sqlite3.OperationalError("database is locked")
    said = [errors.classify(locked, "refresh") for _ in range(QUIET_FAILURES)]
    assert said[:-1] == [[]] * (QUIET_FAILURES - 1) and said[-1] == [DbProblem("database busy, retrying")]
    assert errors.success() == [DbProblem(None)] and errors.success() == []


def test_errors_are_told_by_kind_and_only_the_unexpected_are_logged(tmp_path: Path) -> None:
    errors = ErrorHandler(tmp_path)
    assert errors.classify(ReadOnlyError("read-only mode: cannot cancel"), "cancel") == [
        Notice("read-only mode: cannot cancel", "read-only", "warning", 5.0)]
    bad = rq.InvalidRequestError("priority: expected a whole number from -1000 to 1000, got 5000")
    assert errors.classify(bad, "priority") == [Notice(str(bad), "priority", "error", 8.0)]
    assert errors.classify(DatabaseError("disk full"), "refresh")[0] == DbProblem("disk full")
    assert not (tmp_path / "tui.log").exists()
    told = errors.classify(ZeroDivisionError("x"), "drawing")
    assert told[0].title == "error in drawing" and "tui.log" in told[0].text  # type: ignore[union-attr]
    assert "ZeroDivisionError" in (tmp_path / "tui.log").read_text()
    assert errors.last_problem == "drawing: ZeroDivisionError('x')"
