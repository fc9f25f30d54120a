"""Two hosts never work the same sprint: claims in the database, from separate connections and
from separate processes racing for the same sprint."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from db import Store
from db.research import SprintLostError
from tests.timing import scaled

ROOT = Path(__file__).resolve().parents[2]

RACE = """
import asyncio, json, sys, time
from db import Store

async def main(path, what, start, sprint_id):
    store = await Store.open(path)
    while time.time() < start:
        await asyncio.sleep(0.001)
    host = f"host-{sys.argv[5]}"
    if what == "open":
        result = await store.open_sprint(host, 3, "offline", stale_before=time.time() - 60)
    else:
        result = await store.claim_sprint(sprint_id, host, stale_before=time.time() - 60)
    await store.close()
    print(json.dumps(result))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
"""


async def test_one_discussion_at_a_time_and_only_the_holder_changes_a_sprint(tmp_path: Path) -> None:
    a = await Store.open(tmp_path / "lab.db")
    b = await Store.open(tmp_path / "lab.db")
    try:
        now = time.time()
        first = await a.open_sprint("host-a", 3, "offline", stale_before=now - 60)
        assert first is not None
        assert await b.open_sprint("host-b", 3, "offline", stale_before=now - 60) is None
        assert not await b.claim_sprint(first, "host-b", stale_before=now - 60)
        with pytest.raises(SprintLostError):
            await b.update_sprint(first, "host-b", stage="running")
        await a.update_sprint(first, "host-a", stage="awaiting_approval")
        second = await b.open_sprint("host-b", 3, "offline", stale_before=now - 60)
        assert second is not None and second != first
        # host-a goes silent: after the stale time its sprint can be taken over, and host-a loses it
        assert await b.claim_sprint(first, "host-b", stale_before=time.time() + 1)
        with pytest.raises(SprintLostError):
            await a.update_sprint(first, "host-a", stage="running")
        await b.update_sprint(first, "host-b", stage="done", note="finished by b")
        row = await a.get_sprint(first)
        assert row.host == "host-b" and row.stage == "done" and row.finished_at is not None
        assert not await a.claim_sprint(first, "host-a", stale_before=time.time() + 1)  # finished: nobody's
        kinds = [e.kind for e in await a.events_after(0)]
        assert "sprint.started" in kinds and "sprint.claimed" in kinds and "sprint.done" in kinds
    finally:
        await a.close()
        await b.close()


async def test_a_stale_discussion_is_abandoned_for_a_new_one(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "lab.db")
    try:
        old = await store.open_sprint("crashed", 1, "offline", stale_before=time.time() - 60)
        new = await store.open_sprint("alive", 1, "offline", stale_before=time.time() + 1)
        assert new is not None and (await store.get_sprint(old)).stage == "abandoned"
    finally:
        await store.close()


def _race(db: Path, what: str, n: int, sprint_id: int = 0) -> list[Any]:
    start = time.time() + 1.5  # every process is connected before the race starts
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(db), what, str(start), str(sprint_id), str(i)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(n)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=scaled(60))
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    return outs


async def test_processes_racing_for_a_sprint_get_it_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    store = await Store.open(db)
    await store.close()
    opened = _race(db, "open", 5)
    assert sum(1 for o in opened if o is not None) == 1
    sprint_id = next(o for o in opened if o is not None)
    store = await Store.open(db)
    holder = (await store.get_sprint(sprint_id)).host
    await store.release_sprint(sprint_id, holder)
    await store.close()
    claimed = _race(db, "claim", 5, sprint_id)
    assert claimed.count(True) == 1
