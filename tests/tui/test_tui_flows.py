"""Pilot tests of every flow of the control room, on the fixture lab with a stand-in engine."""

from __future__ import annotations

import sqlite3

from textual.widgets import Input

from contract import requests as rq
from db import ExperimentState as E
from db import NewExperiment
from tests.tui.support import Responder, ready, requests_of, until
from tui.messages import WorkerFailed
from tui.screens.approval import ApprovalScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.detail import DetailScreen
from tui.screens.edit_params import EditParamsScreen
from tui.screens.help import HelpScreen
from tui.screens.prompt import PromptScreen
from tui.widgets.param_form import ParamField, ParamForm
from tui.widgets.queue_table import QueueTable
from tui.widgets.status_line import StatusLine


def status_text(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(StatusLine).render())


def queue_keys(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [k for k, _ in app.screen.query_one(QueueTable)._rows]


async def select_row(pilot, key: str) -> None:  # type: ignore[no-untyped-def]
    table = pilot.app.screen.query_one(QueueTable)
    await until(pilot, lambda: key in queue_keys(pilot.app), what=f"row {key}")
    table.move_cursor(row=queue_keys(pilot.app).index(key))
    await pilot.pause()


async def test_dashboard_first_frame(lab, app_factory):
    app = app_factory(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert queue_keys(app)[:2] == ["e5", "e6"], "proposals waiting come first"
        assert "e4" in queue_keys(app) and "r13" in queue_keys(app)
        text = status_text(app)
        assert "engine up" in text and "2 proposals waiting" in text


async def test_approve(lab, app_factory):
    app = app_factory(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        responder = Responder(app.store).start()
        try:
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current_id == 5)
            await pilot.press("a")
            await until(pilot, lambda: app.screen.current_id == 6, what="the next proposal")
            exp = await app.store.get_experiment(5)
            await until(pilot, lambda: exp is not None)
            for _ in range(40):
                exp = await app.store.get_experiment(5)
                if exp.status == E.APPROVED.value:
                    break
                await pilot.pause(0.05)
            assert exp.status == E.APPROVED.value
            reqs = await requests_of(app)
            assert [(r["kind"], r["target_id"], r["origin"]) for r in reqs] == [("approve", 5, "tui")]
        finally:
            await responder.stop()


async def test_reject_asks_a_reason(lab, app_factory):
    app = app_factory(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current_id == 5)
        await pilot.press("j")
        await until(pilot, lambda: app.screen.current_id == 6)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("enter")  # no reason: refused inline
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        assert app.screen.query_one("#prompt-error").display
        await pilot.press(*"too costly")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await until(pilot, lambda: app.screen.current_id == 5, what="back to the remaining proposal")
        reqs = await app.store.pending_requests()
        assert [(r.kind, r.target_id, r.request) for r in reqs] == [("reject", 6, rq.Reject(6, "too costly"))]


async def test_edit_bad_value_then_good(lab, app_factory):
    app = app_factory(lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        new = NewExperiment(name="fake-steps", catalog="fake", params={"steps": 5}, seeds=1,
                            plan=[{"name": "baseline", "baseline": True, "depends_on": [], "params": {}}],
                            source="researcher", hypothesis="more steps help")
        exp_id = await app.store.create_experiment(new, status=E.AWAITING_APPROVAL)
        responder = Responder(app.store).start()
        try:
            app.poll_soon()
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.proposals)
            await until(pilot, lambda: exp_id in [p.id for p in app.screen.proposals])
            while app.screen.current_id != exp_id:
                await pilot.press("j")
                await pilot.pause(0.1)
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, EditParamsScreen) and app.screen.query(ParamForm),
                        timeout=15, what="the parameter form")
            steps = app.screen.query_one("#param-steps", Input)
            steps.value = "-5"
            await pilot.press("ctrl+s")
            await pilot.pause()
            field = app.screen.query_one("#field-steps", ParamField)
            error = str(field.query_one(".param-error").render())
            assert "between 0 and 1000000" in error and field.has_class("-invalid")
            assert await app.store.pending_requests() == [], "nothing is sent while a value is bad"
            steps.value = "50"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), timeout=15, what="the form to close")
            exp = await app.store.get_experiment(exp_id)
            assert exp.params["steps"] == 50
            reqs = await requests_of(app)
            assert reqs[-1]["kind"] == "edit" and reqs[-1]["payload"] == {"params": {"steps": 50}}
        finally:
            await responder.stop()


async def test_cancel_with_confirmation(lab, app_factory):
    app = app_factory(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await select_row(pilot, "e4")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert await app.store.pending_requests() == []
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.pause(0.2)
        reqs = await app.store.pending_requests()
        assert [(r.kind, r.target_id) for r in reqs] == [("cancel", 4)]
        # uppercase C cancels the selected run at once
        await select_row(pilot, "r13")
        await pilot.press("C")
        await pilot.pause(0.3)
        reqs = await app.store.pending_requests()
        assert [(r.kind, r.target_kind, r.target_id) for r in reqs][-1] == ("cancel_run", "run", 13)


async def test_readonly_refuses_changes(lab, app_factory):
    app = app_factory(lab, readonly=True)
    notes: list[str] = []
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        original = app.notify

        def spy(message, **kwargs):  # type: ignore[no-untyped-def]
            notes.append(str(message))
            return original(message, **kwargs)

        app.notify = spy  # type: ignore[method-assign]
        await ready(pilot)
        assert "READ-ONLY" in status_text(app)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current_id == 5)
        await pilot.press("a")
        await pilot.press("r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ApprovalScreen), "no reason is even asked"
        await pilot.press("escape")
        await pilot.press("n", "c", "P")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DashboardScreen)
        assert await app.store.pending_requests() == []
        assert sum("read-only" in n for n in notes) >= 4


async def test_filter(lab, app_factory):
    app = app_factory(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        before = queue_keys(app)
        await pilot.press("slash")
        await pilot.press(*"kd-")
        await until(pilot, lambda: queue_keys(app) == ["e6"], what="the filtered queue")
        await pilot.press("enter")
        assert isinstance(app.focused, QueueTable)
        assert queue_keys(app) == ["e6"]
        await pilot.press("slash", "backspace", "backspace", "backspace", *"running")
        await until(pilot, lambda: queue_keys(app) == ["e4", "r13"], what="running only")
        await pilot.press("escape")
        await until(pilot, lambda: queue_keys(app) == before, what="the whole queue again")


async def test_detail_and_back(lab, app_factory):
    app = app_factory(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await select_row(pilot, "e4")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.detail is not None)
        screen = app.screen
        assert screen.experiment_id == 4 and screen.run_id == 13, "the running run is selected"
        assert [r.id for r in screen.detail.runs] == [11, 12, 13, 14]
        await pilot.press("right")
        assert screen.query_one("#tabs").active == "tab-metrics"
        await pilot.press("right", "right")
        assert screen.query_one("#tabs").active == "tab-rating"
        await until(pilot, lambda: screen.query_one("#detail-curves").curves.get("train_loss"), what="curves")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_the_detail_screen_shows_nothing_of_a_refresh_before_its_reads(lab, app_factory, monkeypatch):
    """The selected run's points are read before the refresh shows the experiment and its runs,
    so what a refresh changes is painted in one screen update (as on the dashboard)."""
    from textual.widgets import Static

    from tui.widgets.runs_table import RunsTable

    app = app_factory(lab, refresh_s=60)
    seen: list[tuple[str, int]] = []
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        reader = app.session.reader
        curve = reader.curve

        async def watched(*args):  # type: ignore[no-untyped-def]
            if isinstance(app.screen, DetailScreen):
                seen.append((str(app.screen.query_one("#detail-head", Static).render()),
                             app.screen.query_one(RunsTable).row_count))
            return await curve(*args)

        monkeypatch.setattr(reader, "curve", watched)
        await select_row(pilot, "e4")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen)
                    and app.screen.query_one("#detail-curves").curves.get("train_loss"), what="the run's curves")
        assert app.screen.query_one(RunsTable).row_count == 4
    assert seen and seen[0] == ("experiment #4", 0), f"shown before the points were read: {seen[:1]}"


async def test_engine_down_then_restart(lab, app_factory):
    from tests.tui import tui_fixture_lab

    engine = tui_fixture_lab.FakeEngine(running=True)
    # no refresh comes during the test: what shows the engine down is the probe made every second
    app = app_factory(lab, engine=engine, refresh_s=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert "engine up" in status_text(app)
        engine.running = False
        await until(pilot, lambda: "ENGINE DOWN" in status_text(app), timeout=2.0, what="the engine shown down")
        assert "S restarts it" in status_text(app)
        await pilot.press("S")
        await until(pilot, lambda: engine.starts == 1, what="a restart")
        await until(pilot, lambda: "engine up" in status_text(app), timeout=2.0)


async def test_a_second_control_room_sees_the_engine_the_first_started(lab, app_factory):
    """Two control rooms opened on one lab at the same second both find no engine and start one;
    the second's is refused by the lock and its start answers the first's engine, while its first
    refresh, which probed the lock before that engine held it, is still reading. That stale look
    is no engine going down: no "engine down" notice, and the status line says engine up."""
    import threading

    from textual.worker import WorkerState

    from tests.timing import scaled
    from tests.tui import tui_fixture_lab

    class RacedEngine(tui_fixture_lab.FakeEngine):
        def __init__(self) -> None:
            super().__init__(running=False)
            self.probes = 0
            self.probed = threading.Event()   # the first refresh has looked (and found no engine)
            self.answer = threading.Event()   # ... and gets its answer only now

        def probe(self) -> int | None:
            self.probes += 1
            seen = super().probe()
            if self.probes == 2:  # the first refresh's (the first is the open's: no engine, so start one)
                self.probed.set()
                self.answer.wait(scaled(10))
            return seen

        def start(self) -> int:
            self.probed.wait(scaled(10))  # the other control room's engine holds the lock from now on
            return super().start()

    engine = RacedEngine()
    app = app_factory(lab, engine=engine, start_engine=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: engine.starts == 1 and not any(
            w.group == "engine" and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers),
            what="the start ended")
        engine.answer.set()
        await ready(pilot)
        await until(pilot, lambda: engine.probes >= 3, what="the next refresh")
        await pilot.pause(0.1)
        assert "engine up" in status_text(app)
        assert [n.message for n in app._notifications if n.title == "engine down"] == []


async def test_locked_database_is_retried_quietly(lab, app_factory):
    app = app_factory(lab, refresh_s=30)  # no refresh succeeds in between
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        before = len(app._notifications)
        locked = sqlite3.OperationalError("database is locked")
        for _ in range(3):  # as a worker reports it
            app.post_message(WorkerFailed("refresh", locked))
        await pilot.pause()
        assert len(app._notifications) == before
        assert "busy" not in status_text(app)
        for _ in range(3):
            app.post_message(WorkerFailed("refresh", locked))
        await pilot.pause()
        assert "database busy" in status_text(app)
        app.show_outcomes(app.errors.success())
        await pilot.pause()
        assert "busy" not in status_text(app)


async def test_help_shows_every_binding_of_the_screen(lab, app_factory):
    from tui import keys

    app = app_factory(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        table = app.screen.query_one("#help-keys")
        ids = {str(table.get_row_at(i)[2]) for i in range(table.row_count)}
        for scope in (keys.DASHBOARD, keys.EXPERIMENT, keys.APP):
            assert {k.id for k in scope} <= ids
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_palette_lists_every_action(lab, app_factory):
    from tui import keys

    app = app_factory(lab)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for key in [*keys.DASHBOARD, *keys.EXPERIMENT, *keys.APP]:
            if key.id != "app.palette":
                assert any(t.startswith(key.description + " [") for t in titles), key.id
        assert any(t.startswith("Autonomy 2") for t in titles)
        proposals = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Proposals ["))
        proposals.callback()
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the palette's action to run")


async def test_keymap_remaps_and_reports_unknown_ids(lab, app_factory):
    (lab.config).write_text(lab.config.read_text() + '\n[keys]\n"lab.proposals" = "x"\n"no.such" = "z"\n')
    app = app_factory(lab)
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: said.append(message) or notify(message, **kw)  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        # what was said, not what is still shown: under load the toast's 10 s may be over by now
        assert any("no.such" in m for m in said)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen), "p no longer opens the proposals"
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))


async def test_new_experiment_from_the_catalog(lab, app_factory):
    app = app_factory(lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        await pilot.press("n")
        from tui.screens.new_experiment import NewExperimentScreen

        await until(pilot, lambda: isinstance(app.screen, NewExperimentScreen) and app.screen.entries,
                    timeout=15, what="the catalog")
        # the engine's warm worker (it runs on demand) is started while the form is filled in
        for _ in range(100):
            if warm := await app.store.pending_requests():
                break
            await pilot.pause(0.05)
        assert [(r.kind, r.target_kind, r.origin) for r in warm] == [("warm", "lab", "tui")]
        await pilot.press("enter")  # the first entry: dag
        await until(pilot, lambda: app.screen.query(ParamForm), what="the form")
        help_texts = [str(s.render()) for s in app.screen.query(".param-help")]
        assert "metric points" in help_texts
        # 1 seed cannot earn a finding: the form says so, and stops saying it at 5 seeds (issue 22)
        hint = app.screen.query_one("#form-preliminary")
        assert hint.display and "1 seed(s), fewer than the 5 the rubric asks for" in str(hint.render())
        assert "rated at most 6/10" in str(hint.render())
        app.screen.query_one("#job-seeds", Input).value = "5"
        await pilot.pause()
        assert "seed(s), fewer than" not in str(hint.render())
        app.screen.query_one("#job-seeds", Input).value = "1"
        await pilot.pause()
        assert hint.display
        app.screen.query_one("#param-steps", Input).value = "ten"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "must be an integer" in str(app.screen.query_one("#field-steps .param-error").render())
        app.screen.query_one("#param-steps", Input).value = "3"
        for seeds, priority in (("0", "0"), ("two", "0"), ("1", "high")):  # each refused, with a message
            app.screen.query_one("#job-seeds", Input).value = seeds
            app.screen.query_one("#job-priority", Input).value = priority
            await pilot.press("ctrl+s")
            await pilot.pause()
            message = str(app.screen.query_one("#form-message").render())
            assert ("seeds: a whole number" in message) == (seeds != "1"), message
            assert ("priority: a whole number" in message) == (priority != "0"), message
        assert await app.store.list_experiments(statuses=["approved"]) == []
        app.screen.query_one("#job-priority", Input).value = "0"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), timeout=15, what="the form to close")
        exps = await app.store.list_experiments(statuses=["approved"])
        assert [(e.catalog, e.params["steps"]) for e in exps] == [("dag", 3)]
        assert len(await app.store.list_runs(exps[0].id)) == 4


async def test_missing_lab_is_offered(tmp_path, app_factory):
    from contract.layout import LabDir
    from tui.screens.lab_missing import LabMissingScreen

    lab = LabDir(tmp_path / "nowhere")
    app = app_factory(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LabMissingScreen))
        await pilot.press("y")
        await ready(pilot)
        assert lab.config.exists() and lab.db.exists()


async def test_missing_lab_readonly_creates_nothing(tmp_path, app_factory):
    from contract.layout import LabDir
    from tui.screens.lab_missing import LabMissingScreen

    lab = LabDir(tmp_path / "nowhere")
    app = app_factory(lab, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LabMissingScreen))
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, LabMissingScreen)
        await pilot.press("n")
        await pilot.pause()
    assert not lab.root.exists()
    assert app.return_code == 1


async def test_no_color(lab, app_factory, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_factory(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert app.no_color
        assert "? awaiting" in str(app.screen.query_one(QueueTable).get_row("e5")[2]), "states are words too"
