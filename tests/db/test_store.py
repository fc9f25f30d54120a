"""The store's state machine, dependency cascade, retries and exactly-once ingest, on a real file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from contract import requests as rq
from contract.plan import PlanStep
from db import (
    ExperimentState as E,
)
from db import (
    IllegalTransitionError,
    IngestBatch,
    NewExperiment,
    NotFoundError,
    RunDefaults,
    StaleIngestError,
    Store,
)
from db import (
    RunState as R,
)
from db.plans import PlanError, expand
from db.states import EXPERIMENT_TRANSITIONS, RUN_TRANSITIONS

DAG = (
    PlanStep("base", baseline=True),
    PlanStep("child", depends_on=("base",), params={"k": 1}),
    PlanStep("grandchild", depends_on=("child",), params={"k": 2}),
    PlanStep("other", depends_on=("base",), params={"k": 3}),
)


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(tmp_path / "lab.db")
    yield s
    await s.close()


async def new(store: Store, status: E = E.APPROVED, plan=DAG, seeds: int = 1, attempts: int = 2) -> int:
    return await store.create_experiment(
        NewExperiment(name="t", catalog="fake", params={"p": 1}, plan=plan, seeds=seeds),
        status=status, run_defaults=RunDefaults(max_attempts=attempts))


async def statuses(store: Store, exp_id: int) -> dict[str, str]:
    return {f"{r.variant}/{r.seed}": r.status for r in await store.list_runs(exp_id)}


async def run_to(store: Store, run_id: int, status: R, **kw) -> None:
    await store.start_run(run_id, device="cpu", run_dir="/tmp/x")
    await store.finish_run(run_id, status, **kw)


def test_every_state_has_its_transitions_declared() -> None:
    assert set(EXPERIMENT_TRANSITIONS) == set(E)
    assert set(RUN_TRANSITIONS) == set(R)


async def test_experiment_lifecycle_proposed_to_done(store: Store) -> None:
    exp_id = await new(store, E.AWAITING_APPROVAL)
    assert (await store.get_experiment(exp_id)).status == "awaiting_approval"
    assert await store.list_runs(exp_id) == []  # runs exist only once approved
    assert await store.approve_experiment(exp_id, RunDefaults()) == 4
    assert await statuses(store, exp_id) == {"base/0": "queued", "child/0": "pending",
                                             "grandchild/0": "pending", "other/0": "pending"}
    runs = {r.variant: r.id for r in await store.list_runs(exp_id)}
    await store.start_run(runs["base"], device="cpu", run_dir="/tmp/x")
    assert (await store.get_experiment(exp_id)).status == "running"
    await store.finish_run(runs["base"], R.SUCCEEDED, exit_code=0)
    assert await statuses(store, exp_id) == {"base/0": "succeeded", "child/0": "queued",
                                             "grandchild/0": "pending", "other/0": "queued"}
    await run_to(store, runs["child"], R.SUCCEEDED)
    await run_to(store, runs["grandchild"], R.SUCCEEDED)
    await store.start_run(runs["other"], device="cpu", run_dir="/tmp/x")
    outcome = await store.finish_run(runs["other"], R.SUCCEEDED)
    assert outcome.experiment_finished
    assert (await store.get_experiment(exp_id)).status == "analyzing"
    await store.set_experiment_status(exp_id, E.DONE)
    exp = await store.get_experiment(exp_id)
    assert exp.status == "done" and exp.finished_at is not None


async def test_a_failed_dependency_fails_its_dependents_transitively(store: Store) -> None:
    exp_id = await new(store, attempts=1)
    runs = {r.variant: r.id for r in await store.list_runs(exp_id)}
    await run_to(store, runs["base"], R.FAILED, exit_code=3, error="boom", retryable=True)
    rows = {r.variant: r for r in await store.list_runs(exp_id)}
    assert {v: r.status for v, r in rows.items()} == {
        "base": "failed", "child": "failed", "grandchild": "failed", "other": "failed"}
    assert rows["child"].error == f"dependency base (run {runs['base']}) failed"
    assert rows["grandchild"].error == f"dependency child (run {runs['child']}) failed"
    assert (await store.get_experiment(exp_id)).status == "analyzing"


async def test_a_skipped_dependency_skips_its_dependents(store: Store) -> None:
    exp_id = await new(store)
    runs = {r.variant: r.id for r in await store.list_runs(exp_id)}
    await run_to(store, runs["base"], R.SKIPPED, exit_code=0)
    assert set((await statuses(store, exp_id)).values()) == {"skipped"}


async def test_retry_requeues_until_attempts_run_out(store: Store) -> None:
    exp_id = await new(store, plan=DAG[:1], attempts=2)
    (run,) = await store.list_runs(exp_id)
    await store.start_run(run.id, device="cpu", run_dir="/tmp/x")
    assert (await store.finish_run(run.id, R.INTERRUPTED, retryable=True)).requeued
    assert (await store.get_run(run.id)).status == "queued"
    assert await store.start_run(run.id, device="cpu", run_dir="/tmp/x") == 2
    outcome = await store.finish_run(run.id, R.FAILED, exit_code=1, retryable=True)
    assert not outcome.requeued and outcome.experiment_finished
    await store.set_experiment_status(exp_id, E.FAILED)
    # a person's retry gives one more attempt and reopens the experiment
    assert await store.requeue_runs(exp_id) == 1
    assert (await store.get_run(run.id)).status == "queued"
    assert (await store.get_experiment(exp_id)).status == "running"


async def test_timeouts_and_cancels_are_not_retried(store: Store) -> None:
    exp_id = await new(store, plan=DAG[:1], attempts=3)
    (run,) = await store.list_runs(exp_id)
    await store.start_run(run.id, device="cpu", run_dir="/tmp/x")
    assert not (await store.finish_run(run.id, R.TIMED_OUT, error="too long")).requeued


async def test_cancel_cancels_dependents_rather_than_failing_them(store: Store) -> None:
    exp_id = await new(store)
    ids = [r.id for r in await store.list_runs(exp_id)]
    await store.cancel_runs(ids, "no longer needed")
    assert set((await statuses(store, exp_id)).values()) == {"cancelled"}


async def test_illegal_transitions_are_refused(store: Store) -> None:
    exp_id = await new(store, plan=DAG[:1])
    with pytest.raises(IllegalTransitionError, match="is approved"):
        await store.approve_experiment(exp_id, RunDefaults())
    with pytest.raises(IllegalTransitionError):
        await store.reject_experiment(exp_id, "too late")
    (run,) = await store.list_runs(exp_id)
    with pytest.raises(IllegalTransitionError, match="not running"):
        await store.finish_run(run.id, R.SUCCEEDED)
    await run_to(store, run.id, R.SUCCEEDED)
    with pytest.raises(IllegalTransitionError):
        await store.start_run(run.id, device="cpu", run_dir="/tmp/x")
    with pytest.raises(NotFoundError, match="no experiment with id 999"):
        await store.approve_experiment(999, RunDefaults())


async def test_rejection_keeps_the_reason(store: Store) -> None:
    exp_id = await new(store, E.AWAITING_APPROVAL)
    await store.reject_experiment(exp_id, "baseline first")
    exp = await store.get_experiment(exp_id)
    assert exp.status == "rejected" and exp.reject_reason == "baseline first"


async def test_ingest_commits_rows_with_the_offset_exactly_once(store: Store) -> None:
    exp_id = await new(store, plan=DAG[:1])
    (run,) = await store.list_runs(exp_id)
    await store.start_run(run.id, device="cpu", run_dir="/tmp/x")
    batch = IngestBatch(run_id=run.id, attempt=1, offset_from=0, offset_to=100,
                        metrics=[(1, "loss", 0.5, 1.0), (2, "loss", 0.4, 2.0)], progress=(2, 10),
                        result={"energy_kwh": 0.001, "energy_mode": "estimated"})
    await store.ingest(batch)
    with pytest.raises(StaleIngestError):
        await store.ingest(batch)  # the same bytes again: refused, nothing written twice
    assert await store.metric_count(run.id) == 2
    row = await store.get_run(run.id)
    assert row.ingest_offset == 100 and row.progress_done == 2 and row.energy_kwh == 0.001
    assert await store.metric_curve(run.id) == {"loss": [(1, 0.5), (2, 0.4)]}


def test_plans_are_ordered_and_cycles_refused() -> None:
    runs = expand(list(reversed(DAG)), seeds=2)
    order = [(r.variant, r.seed) for r in runs]
    assert order.index(("base", 0)) < order.index(("child", 0)) < order.index(("grandchild", 0))
    assert len(runs) == 8
    with pytest.raises(PlanError, match="cycle"):
        expand([PlanStep("a", depends_on=("b",)), PlanStep("b", depends_on=("a",))], 1)
    with pytest.raises(PlanError, match="unknown variant"):
        expand([PlanStep("a", depends_on=("zzz",))], 1)


async def test_system_samples_are_bounded(store: Store) -> None:
    for i in range(15):
        await store.add_system_sample(float(i), 1, 2, [], keep=10)
    samples = await store.system_samples(100)
    assert len(samples) == 10 and samples[-1].cpu_pct == 14.0


async def test_a_caller_cancelled_while_its_transaction_begins_leaves_no_transaction_open(store: Store) -> None:
    """aiosqlite runs BEGIN on its thread whatever happens to the awaiting task; a task cancelled
    at any point of beginning must not leave the shared connection inside a transaction (seen
    under load: the next reader failed with "cannot start a transaction within a transaction")."""
    import asyncio

    async def write() -> None:
        async with store.transaction() as tx:
            await tx.scalar("SELECT 1")

    for delay_loops in range(12):
        for opener in (write, store.messages):
            task = asyncio.ensure_future(opener())
            for _ in range(delay_loops):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert await store.messages() == []  # a reader begins and commits normally
            await write()


async def test_reads_return_typed_rows_with_their_json_decoded_and_their_states_as_enums(store: Store) -> None:
    from contract.experiment_metadata import ExperimentMetadata
    from contract.modifications import Modifications
    from db import Experiment, FamilyMember, Request, RequestStatus, Run, Sprint, SprintStage, StoredFinding

    parent = await new(store)
    child = await store.create_experiment(NewExperiment(
        name="c", catalog="fake", params={"p": 2}, plan=DAG[:1], parent_id=parent,
        modifications=Modifications(params={"p": 2}, rationale="why not")), status=E.AWAITING_APPROVAL)
    exp = await store.get_experiment(parent)
    assert isinstance(exp, Experiment) and exp.status is E.APPROVED and exp.params == {"p": 1}
    assert exp.plan == DAG and exp.rating is None and exp.metadata == ExperimentMetadata()
    runs = await store.list_runs(parent)
    assert all(isinstance(r, Run) and isinstance(r.status, R) for r in runs)
    base, dependent = runs[0], runs[1]
    assert base.is_baseline is True and dependent.is_baseline is False
    assert dependent.depends_on == [base.id] and dependent.status is R.PENDING
    # the rows are frozen values: a changed run is read again, never edited in place
    with pytest.raises(AttributeError):
        base.status = R.RUNNING  # type: ignore[misc]
    family = await store.experiment_family(child)
    assert all(isinstance(m, FamilyMember) for m in family)
    assert [(m.id, m.status, m.modifications.rationale) for m in family] == [
        (parent, E.APPROVED, None), (child, E.AWAITING_APPROVAL, "why not")]
    req = await store.get_request(await store.add_request("priority", target_id=parent, payload={"priority": 5}))
    assert isinstance(req, Request) and req.status is RequestStatus.PENDING and req.request == rq.Priority(parent, 5)
    sprint_id = await store.open_sprint("host:1", 1, "offline", stale_before=0.0)
    assert sprint_id is not None
    sprint = await store.get_sprint(sprint_id)
    assert isinstance(sprint, Sprint) and sprint.stage is SprintStage.DISCUSSING and sprint.host == "host:1"
    from contract.comparison import Spread
    from contract.finding_data import BaselineData

    ran = BaselineData(Spread(0.9), Spread(2e-6), 1)
    await store.replace_findings(parent, "fake", [("base", "baseline", "it ran", ran)])
    (found,) = await store.findings(experiment_id=parent)
    assert isinstance(found, StoredFinding) and found.data == ran and found.variant == "base"
    # read by attribute only (no `row["key"]`, `{**row}`): its JSON, where it crosses a JSON edge, is to_dict()
    assert not isinstance(exp, Mapping) and not hasattr(exp, "get")
    assert exp.to_dict()["id"] == parent and exp.to_dict()["params"] == exp.params
    assert (await store.run_history("fake")).n == 0 and (await store.llm_spend()).cost_usd == 0.0


async def test_a_read_is_one_round_trip_per_statement_and_one_snapshot(store: Store, tmp_path: Path) -> None:
    """A read's BEGIN goes with its first statement and its COMMIT is queued without a wait: one
    hand-over to aiosqlite's thread per statement (it was three for a one-statement read). The
    statements of one read still see one snapshot, and once the thread has run its queue the
    connection is outside any transaction (a WAL checkpoint by another process is not held up)."""
    import sqlite3

    conn = store._conn
    trips: list[str] = []
    original = conn._execute

    async def counted(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await original(fn, *args, **kwargs)

    conn._execute = counted  # type: ignore[method-assign]
    await store.change_stamps()
    assert len(trips) == 1, trips
    exp_id = await new(store)
    other = sqlite3.connect(tmp_path / "lab.db", isolation_level=None)
    try:
        trips.clear()
        async with store.reading() as tx:
            before = await tx.scalar("SELECT COUNT(*) FROM experiments")
            other.execute("UPDATE experiments SET name = 'renamed' WHERE id = ?", (exp_id,))
            other.execute("INSERT INTO settings (key, value, updated_at) VALUES ('x', '1', 0)")
            assert await tx.scalar("SELECT name FROM experiments WHERE id = ?", (exp_id,)) == "t", \
                "the second statement sees the first one's snapshot"
            assert await tx.scalar("SELECT COUNT(*) FROM settings WHERE key = 'x'") == 0
        assert len(trips) == 3 and before == 1
        assert getattr(await store.get_experiment(exp_id), "name", None) == "renamed", "the next read sees the change"
        await original(lambda: None)  # the thread has run its queue
        assert not conn._conn.in_transaction
        assert other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0, "no reader holds the WAL"
        async with store.transaction() as wtx:  # a write right after a read begins normally
            await wtx.run("DELETE FROM settings WHERE key = 'x'")
        with pytest.raises(sqlite3.OperationalError):
            async with store.reading() as tx:
                await tx.all("SELECT nothing FROM nowhere")
        await original(lambda: None)
        assert not conn._conn.in_transaction, "a failed read ends its snapshot"
        assert await store.messages() == []
    finally:
        other.close()


async def test_work_on_the_stores_thread_runs_there_after_what_was_asked_before(store: Store) -> None:
    import threading

    seen: list[str] = []
    thread = await store.on_thread(threading.get_ident)
    assert thread != threading.get_ident()  # not the event loop's thread
    async with store.reading() as tx:
        await tx.one("SELECT 1")
    # the read's end was queued on that thread before: the work runs after it, outside any transaction
    raw = store._conn._conn
    assert await store.on_thread(lambda: (seen.append("work"), raw.in_transaction)[1]) is False
    assert await store.on_thread(threading.get_ident) == thread and seen == ["work"]
    with pytest.raises(ZeroDivisionError):
        await store.on_thread(lambda: 1 / 0)
    assert await store.experiment_counts() is not None  # the connection goes on
