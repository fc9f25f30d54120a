"""The audit log's `data` column as typed values (contract/event_data.py): each kind that carries
data reads back as its type and writes the JSON it was given; an older shape, or a kind this lab
does not know, is kept as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import event_data as ed
from contract.jsonvalue import JsonValue
from db import Store
from db.rows import to_json


@pytest.mark.parametrize(("kind", "given", "typed"), [
    ("request", {"request_id": 4}, ed.RequestAsked(4)),
    ("experiment.rejected", {"reason": "too costly"}, ed.Rejected("too costly")),
    ("experiment.rated", {"rating": 7}, ed.Rated(7)),
    ("experiment.recorded", {"sha": "abc"}, ed.Recorded("abc")),
    ("run.failed", {"exit_code": 1, "attempt": 2}, ed.RunEnded(1, 2)),
    ("run.cancelled", {"exit_code": None, "attempt": 0}, ed.RunEnded(None, 0)),
    ("run.artifact", {"path": "model.pt", "kind": "model"}, ed.ArtifactReported("model.pt", "model")),
    ("run.artifact", {"path": "notes.txt", "kind": None}, ed.ArtifactReported("notes.txt")),
    ("run.log.error", {"where": "a.py:3 in f", "traceback": "..."}, ed.RunFailure("a.py:3 in f", "...")),
    ("sprint.rating", {"sprint_id": 2}, ed.SprintRef(2)),
    ("llm.degraded", {"endpoint": "e", "retry_at": 12.5}, ed.EndpointDown("e", 12.5)),
    ("llm.degraded", {"endpoint": "e", "retry_at": None}, ed.EndpointDown("e")),
    ("llm.recovered", {"endpoint": "e"}, ed.EndpointBack("e")),
])
def test_an_events_data_is_typed_by_its_kind_and_writes_back_what_it_read(kind: str, given: JsonValue,
                                                                           typed: ed.EventData) -> None:
    got = ed.event_data(kind, given)
    assert got == typed and type(got) is type(typed)
    assert to_json(got) == to_json(given)


@pytest.mark.parametrize(("kind", "given"), [
    ("run.failed", {"exit_code": 1, "attempt": 2, "signal": 9}),  # a key this lab does not write
    ("experiment.rated", {"rating": "high"}),                        # a value of another type
    ("run.artifact", ["model.pt"]),                                  # not an object
    ("experiment.tagged", {"tag": "v1"}),                            # a kind that carries no typed data
    ("run.log.info", None),
])
def test_an_older_or_unknown_shape_is_kept_as_written(kind: str, given: JsonValue) -> None:
    assert ed.event_data(kind, given) == given


async def test_the_store_writes_typed_data_and_reads_it_back_typed(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "lab.db")
    try:
        await store.add_event("run.artifact", "artifact model.pt", data=ed.ArtifactReported("model.pt", "model"))
        await store.add_event("note", "no data")
        events = {e.kind: e for e in await store.events_after(0)}
        assert events["run.artifact"].data == ed.ArtifactReported("model.pt", "model")
        assert events["run.artifact"].to_dict()["data"] == {"path": "model.pt", "kind": "model"}
        assert events["note"].data is None
    finally:
        await store.close()
