"""The request kinds (contract.requests) and the engine's handler for each, against a real store:
typed where they are made, checked again where the engine reads them, one handler per kind."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contract import requests as rq
from db import ExperimentState as E
from db import NewExperiment, RunDefaults, Store
from db.control import REQUEST_KINDS
from engine.requests import RequestHandler

PLAN = [{"name": "base", "baseline": True, "depends_on": [], "params": {}}]


def test_every_kind_has_one_dataclass_the_store_knows_and_a_handler() -> None:
    assert set(rq.KINDS) == set(REQUEST_KINDS)
    handler = RequestHandler(SimpleNamespace(store=None, module=None))  # type: ignore[arg-type]
    assert set(handler.handlers()) == set(rq.KINDS.values())


@pytest.mark.parametrize("request_", [
    rq.Approve(3, "ok"), rq.Reject(3, "no"), rq.Edit(3, {"lr": 0.1}, 5), rq.Cancel(3, "stop"),
    rq.CancelRun(7, "stop"), rq.Retry(3), rq.Priority(3, -5), rq.Pause(), rq.Resume(),
    rq.Setting("autonomy", 2), rq.Setting("research", True)])
def test_a_request_reads_back_as_itself(request_: rq.Request) -> None:
    row = rq.row(rq.make(request_))
    payload = json.loads(json.dumps(row["payload"]))  # as stored
    assert rq.parse(row["kind"], row["target_id"], payload) == request_


@pytest.mark.parametrize(("kind", "target", "payload", "message"), [
    ("priority", 3, {"priority": 5000}, "priority: expected a whole number from -1000 to 1000, got 5000"),
    ("priority", 3, {"priority": "high"}, "priority: expected a whole number from -1000 to 1000, got 'high'"),
    ("edit", 3, {"seeds": 21}, "edit: seeds expected a whole number from 1 to 20, got 21"),
    ("edit", 3, {"params": [1]}, "edit: params must be an object of parameter values, got [1]"),
    ("setting", None, {"key": "autonomy", "value": 5}, "autonomy must be an integer 1..3, got 5"),
    ("setting", None, {"key": "colour", "value": 1}, "unknown setting 'colour'"),
    ("approve", None, {}, "approve needs an experiment: expected a positive id, got None"),
    ("launch", 1, {}, "unknown request 'launch'"),
])
def test_a_bad_request_is_refused_in_one_line(kind: str, target: int | None, payload: dict[str, Any],
                                              message: str) -> None:
    with pytest.raises(rq.InvalidRequestError) as caught:
        rq.parse(kind, target, payload)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    if kind in rq.KINDS:  # made in code, the same check refuses it before anything is written
        with pytest.raises(rq.InvalidRequestError):
            rq.make(rq.KINDS[kind]._from(target, payload))  # type: ignore[arg-type]


async def _answers(store: Store) -> dict[int, tuple[str, dict[str, Any]]]:
    async with store.reading() as tx:
        rows = await tx.all("SELECT id, status, response FROM requests ORDER BY id")
    return {r["id"]: (r["status"], r["response"] if isinstance(r["response"], dict) else json.loads(r["response"] or "{}"))
            for r in rows}


async def test_the_handler_carries_out_good_requests_and_refuses_rows_of_a_foreign_client(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    store = await Store.open(db)
    try:
        exp_id = await store.create_experiment(NewExperiment(name="t", catalog="fake", params={}, plan=PLAN, seeds=2))
        engine = SimpleNamespace(store=store, module=None, paused=False,
                                 config=SimpleNamespace(run_defaults=lambda: RunDefaults()))
        handler = RequestHandler(engine)  # type: ignore[arg-type]
        ok = [await store.add_request(**rq.row(r), origin="test")
              for r in (rq.Approve(exp_id), rq.Priority(exp_id, 7), rq.Pause(), rq.Setting("autonomy", 2))]
        # rows written past the typed requests: an older client, or a hand-made row
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("INSERT INTO requests (t, kind, target_kind, target_id, payload, origin) VALUES (?,?,?,?,?,?)",
                         (time.time(), "priority", "experiment", exp_id, json.dumps({"priority": 10**6}), "old"))
            conn.execute("INSERT INTO requests (t, kind, target_kind, target_id, payload, origin) VALUES (?,?,?,?,?,?)",
                         (time.time(), "approve", "experiment", 999, "{}", "old"))
        conn.close()
        await handler.handle_pending()
        answers = await _answers(store)
        assert [answers[i][0] for i in ok] == ["done"] * 4, answers
        exp = await store.get_experiment(exp_id)
        assert exp.status == E.APPROVED.value and exp.priority == 7 and engine.paused
        assert (await store.settings()).autonomy == 2
        refused = [answers[i] for i in sorted(answers) if i not in ok]
        assert [s for s, _ in refused] == ["error", "error"]
        assert refused[0][1]["error"].startswith("priority: expected a whole number from -1000 to 1000")
        assert refused[1][1]["error"] == "no experiment with id 999 (see `lab status`)"
        assert exp.priority == 7  # the refused row changed nothing
    finally:
        await store.close()


@pytest.mark.parametrize(("request_", "payload"), [
    (rq.Approve(3, "ok"), {"note": "ok"}), (rq.Reject(3, "no"), {"reason": "no"}),
    (rq.Edit(3, {"lr": 0.1}), {"params": {"lr": 0.1}}), (rq.Edit(3, {}, 5), {"params": {}, "seeds": 5}),
    (rq.Cancel(3, "stop"), {"reason": "stop"}), (rq.CancelRun(7, "stop"), {"reason": "stop"}), (rq.Retry(3), {}),
    (rq.Priority(3, -5), {"priority": -5}), (rq.Pause(), {}), (rq.Warm(), {}),
    (rq.Setting("autonomy", 2), {"key": "autonomy", "value": 2})])
def test_a_requests_payload_is_its_fields_but_the_target(request_: rq.Request, payload: dict[str, object]) -> None:
    assert rq.row(request_)["payload"] == payload


async def test_the_store_reads_a_row_as_its_typed_request_or_what_refuses_it(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    store = await Store.open(db)
    try:
        good = await store.add_request(**rq.row(rq.Priority(4, 7)), origin="test")
        conn = sqlite3.connect(db)
        with conn:
            for payload in ("[1]", json.dumps({"priority": "high"})):
                conn.execute("INSERT INTO requests (t, kind, target_kind, target_id, payload, origin) VALUES (?,?,?,?,?,?)",
                             (time.time(), "priority", "experiment", 4, payload, "old"))
        conn.close()
        rows = await store.pending_requests()
        assert rows[0].id == good and rows[0].request == rq.Priority(4, 7)
        refused = [r.request for r in rows[1:]]
        assert refused == [rq.Refused("priority", [1], "priority: the payload must be an object, got [1]"),
                           rq.Refused("priority", {"priority": "high"},
                                      "priority: expected a whole number from -1000 to 1000, got 'high'")]
        for r in refused:  # the same one line the engine gave when it parsed the payload itself
            with pytest.raises(rq.InvalidRequestError, match=r.error.replace("[", r"\[")):
                rq.parse(r.kind, 4, r.payload)
    finally:
        await store.close()
