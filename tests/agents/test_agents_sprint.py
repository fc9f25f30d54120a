"""Sprints for real: the `lab` command, a real engine subprocess, real runs of the stand-in
experiment programs (fakeexp), a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from db import Store
from tests.agents.support import research_config
from tests.conftest import LabHarness
from tests.timing import scaled


async def edit(lab: LabHarness, exp_id: int, params: dict[str, Any]) -> None:
    store = await Store.open(lab.dir.db)
    try:
        await store.add_request("edit", target_id=exp_id, payload={"params": params}, origin="test")
    finally:
        await store.close()


def messages(lab: LabHarness, exp_id: int | None = None) -> list[dict[str, Any]]:
    if exp_id is None:
        return lab.query("SELECT * FROM messages ORDER BY id")
    return lab.query("SELECT * FROM messages WHERE experiment_id = ? ORDER BY id", (exp_id,))


def sprints(lab: LabHarness) -> list[dict[str, Any]]:
    return lab.query("SELECT * FROM sprints ORDER BY id")


def breakdown(lab: LabHarness, exp_id: int) -> dict[str, Any]:
    row = lab.experiment(exp_id)
    assert row["rating_breakdown"], f"experiment {exp_id} is not rated"
    return json.loads(row["rating_breakdown"])


def test_assisted_sprint_waits_for_a_person_then_runs_and_is_rated(lab: LabHarness) -> None:
    lab.write_config(research_config(autonomy=1, catalog=["fake"], seeds=3))
    done = lab.lab("sprint", check=True, timeout=90)
    assert "awaiting_approval (experiment 1)" in done.stdout and "`lab approve 1`" in done.stdout
    assert "[researcher] Proposal (baseline sweep): fake" in done.stdout
    exp = lab.experiment(1)
    assert exp["status"] == "awaiting_approval" and exp["source"] == "agents"
    meta = json.loads(exp["metadata"])
    assert meta["spec"]["command"] == "python -m fakeexp fake --spec spec.json" and len(meta["spec"]["runs"]) == 3
    assert meta["research"]["estimate"]["basis"] == "no past fake run to estimate from"
    said = [(m["agent"], m["kind"]) for m in messages(lab, 1)]
    assert said == [("researcher", "proposal"), ("architect", "plan"), ("coder", "spec"), ("lab", "notice")]
    assert "autonomy 1 (assisted)" in messages(lab, 1)[-1]["text"]
    (sprint,) = sprints(lab)
    assert sprint["stage"] == "awaiting_approval" and sprint["host"] is None  # let go for others to take up
    asyncio.run(edit(lab, 1, {"steps": 7}))  # a person edits the parameters before approving
    lab.wait_for(lambda: lab.query("SELECT status FROM requests WHERE kind = 'edit'")[0]["status"] == "done",
                 15, "the edit")
    lab.lab("approve", "1", check=True)
    done = lab.lab("research", "--sprints", "1", check=True, timeout=120)
    assert "sprint 1: done (experiment 1)" in done.stdout
    spec = json.loads(lab.experiment(1)["metadata"])["spec"]
    assert spec["params"]["steps"] == 7 and "(parameters edited by a person)" in done.stdout
    rated = breakdown(lab, 1)
    assert rated["rating"] == lab.experiment(1)["rating"] and len(rated["criteria"]) == 10
    assert sprints(lab)[0]["stage"] == "done"
    closing = messages(lab, 1)[-1]
    assert closing["agent"] == "researcher" and closing["text"].startswith("Sprint 1 closed: experiment 1 (fake) done")


def test_a_rejection_is_read_by_the_researcher(lab: LabHarness) -> None:
    lab.write_config(research_config(autonomy=1, catalog=["fake", "dag"]))
    lab.lab("sprint", check=True, timeout=90)
    lab.lab("reject", "1", "-r", "the fake program is not worth the CPU today", check=True)
    done = lab.lab("research", "--sprints", "1", check=True, timeout=90)
    assert "sprint 1: rejected (experiment 1)" in done.stdout
    noted = messages(lab, 1)[-1]["text"]
    assert noted.startswith("Noted: experiment 1 rejected: the fake program is not worth the CPU today")
    done = lab.lab("sprint", check=True, timeout=90)
    assert "Proposal (baseline sweep): dag" in done.stdout
    assert "Left aside after a person's rejection: fake (experiment 1 rejected: the fake program" in done.stdout


def test_autonomous_team_sweeps_rates_and_follows_up_within_its_budget(lab: LabHarness) -> None:
    lab.write_config(research_config(autonomy=3, catalog=["fake", "dag"], seeds=3, per_hour=3))
    done = lab.lab("research", check=True, timeout=240)
    top = lab.query("SELECT * FROM experiments WHERE parent_id IS NULL ORDER BY id")
    assert [e["catalog"] for e in top] == ["fake", "dag"]  # the sweep, in catalog order
    children = lab.query("SELECT * FROM experiments WHERE parent_id IS NOT NULL ORDER BY id")
    assert children, done.stdout
    for child in children:
        mods = json.loads(child["modifications"])
        assert (mods["kind"] == "more_seeds" and "too wide" in mods["rationale"]) or "seed" in mods["rationale"]
        assert child["seeds"] == 6 and child["source"] == "validator"
    # the budget allows 3 approvals this hour: the rest waits for a person, whatever the autonomy
    waiting = [c for c in children if c["status"] == "awaiting_approval"]
    assert waiting and "over budget" in done.stdout + "".join(m["text"] for m in messages(lab))
    assert lab.query("SELECT COUNT(*) AS n FROM experiments WHERE approved_at IS NOT NULL")[0]["n"] == 3
    for exp in lab.query("SELECT * FROM experiments WHERE approved_at IS NOT NULL"):
        lab.wait_for(lambda exp=exp: lab.experiment(exp["id"])["rating"] is not None, 90, f"experiment {exp['id']} rated")
        assert len(breakdown(lab, exp["id"])["criteria"]) == 10
    assert lab.query("SELECT COUNT(*) AS n FROM findings")[0]["n"] >= 3
    dag = breakdown(lab, top[1]["id"])
    assert set(dag["variants"]) == {"base", "child", "grandchild", "other"} and dag["headline"] is not None
    rating = lab.lab("rating", str(top[1]["id"]), check=True)
    assert "[x] executed fully" in rating.stdout and "follow-ups:" in rating.stdout
    assert lab.lab("findings", "--catalog", "dag", check=True).stdout.count("[") >= 4


def test_two_hosts_never_work_the_same_sprint(lab: LabHarness) -> None:
    lab.write_config(research_config(autonomy=3, catalog=["fake", "dag"], seeds=2, per_hour=50))
    lab.start_engine()
    cmd = [sys.executable, "-m", "cli", "--dir", str(lab.root), "research", "--sprints", "3"]
    hosts = [subprocess.Popen(cmd, env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [h.communicate(timeout=scaled(240)) for h in hosts]
    assert all(h.returncode == 0 for h in hosts), outs
    top = lab.query("SELECT catalog, COUNT(*) AS n FROM experiments WHERE parent_id IS NULL GROUP BY catalog")
    assert {r["catalog"]: r["n"] for r in top} == {"fake": 1, "dag": 1}  # nothing proposed twice
    rows = sprints(lab)
    owned = [r["experiment_id"] for r in rows if r["experiment_id"] is not None]
    assert len(owned) == len(set(owned))
    claims = lab.query("SELECT message FROM events WHERE kind IN ('sprint.started', 'sprint.claimed')")
    starters = {r["message"].split(" by ")[1].split(" ")[0] for r in claims if "started by" in r["message"]}
    assert len(starters) == 2, "both hosts should have led a sprint"
    done = [r for r in rows if r["stage"] == "done"]
    assert len(done) >= 2


def test_background_research_runs_in_the_engine_without_scipy(lab: LabHarness) -> None:
    lab.write_config(research_config(autonomy=3, catalog=["fake"], seeds=2, background=True))
    pid = lab.start_engine()
    exp = lab.wait_for(lambda: lab.query("SELECT * FROM experiments WHERE rating IS NOT NULL"), 60,
                       "the background team to rate an experiment")[0]
    assert exp["catalog"] == "fake" and exp["source"] == "agents"
    lab.wait_for(lambda: any(s["stage"] == "done" for s in sprints(lab)), 60, "the sprint to close")
    assert all(s["host"] is None or s["host"].endswith(":engine") for s in sprints(lab))
    # the follow-up (more seeds) runs on its own; then there is nothing left, said once
    lab.wait_for(lambda: lab.query("SELECT * FROM experiments WHERE parent_id IS NOT NULL AND rating IS NOT NULL"),
                 60, "the follow-up to be rated")
    idle = lambda: lab.query("SELECT * FROM messages WHERE text LIKE 'Nothing to study%'")  # noqa: E731
    lab.wait_for(idle, 30, "the researcher to find nothing left")
    time.sleep(2.0)  # several more looks at the lab
    assert len(idle()) == 1
    with open(f"/proc/{pid}/maps") as fh:
        assert "scipy" not in fh.read(), "the engine loaded scipy: the validator must run in its own process"
    done = lab.lab("research", "--off", check=True)
    assert "background research is off" in done.stdout
    assert lab.query("SELECT value FROM settings WHERE key = 'research'")[0]["value"] == "false"
    assert "Traceback" not in (lab.root / "engine.log").read_text()


def test_a_retried_experiment_is_rated_again(lab: LabHarness) -> None:
    lab.write_config(research_config(autonomy=1))
    exp_id = lab.submit("fake", "fail_attempts=1", seeds=2)  # a person's experiment; every first attempt fails
    assert lab.wait_experiment(exp_id)["status"] == "failed"
    first = lab.wait_for(lambda: lab.experiment(exp_id)["rating"], 30, "the first rating")
    assert first == 1
    lab.lab("retry", str(exp_id), check=True)
    lab.wait_for(lambda: lab.experiment(exp_id)["status"] == "done", 60, "the retry")
    again = lab.wait_for(lambda: (r := lab.experiment(exp_id)["rating"]) and r > 1 and r, 30, "a new rating")
    b = breakdown(lab, exp_id)
    assert again == b["rating"] and "2 of 2 runs succeeded" in b["criteria"][0]["evidence"]
    # research is off and the experiment was a person's: follow-ups are named, not created
    assert all(f.get("suggested") for f in b["follow_ups"]) and b["follow_ups"]
    assert lab.query("SELECT COUNT(*) AS n FROM experiments")[0]["n"] == 1
