"""The cockpit drives the research team: a key asks for one sprint now (the real `lab sprint`
in a child process, on a real lab with the stand-in experiments and a real engine), another
switches background research; both keys are remappable, listed by `lab keys`, help and the palette."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.agents.support import research_config
from tests.conftest import open_lab
from tests.tui.support import ready, until


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def dialogue_text(app) -> str:  # type: ignore[no-untyped-def]
    from tui.widgets.dialogue import MessageView

    return "\n".join(str(view.content) for view in app.screen.query(MessageView))


async def test_a_key_asks_the_team_for_a_sprint_and_another_switches_research(tmp_path: Path, app_factory):
    from tui.screens.dashboard import DashboardScreen

    with open_lab(tmp_path) as lab:
        # the sprint key remapped to x, as a user would in config.toml
        lab.write_config(research_config(autonomy=1, catalog=["fake"], seeds=1) + '\n[keys]\n"lab.sprint" = "x"\n')
        lab.lab("status", check=True)  # creates the database
        app = app_factory(lab.dir)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await ready(pilot)
            assert isinstance(app.screen, DashboardScreen)
            await until(pilot, lambda: app.screen.query_one("#queue-empty").display, what="the empty lab's hint")
            hint = str(app.screen.query_one("#queue-empty").content)
            assert "x asks the research team for a sprint now" in hint and "R lets the team go on by itself" in hint
            assert "lab sprint" not in hint, "the newcomer is not sent elsewhere"
            assert app.screen.active_bindings["x"][1].id == "lab.sprint"
            # the sprint's child waits for the test's word: on a loaded machine the whole sprint could
            # otherwise end before the test looks for "sprint running"
            gate = tmp_path / "go"
            real = app.sprint_command()
            app.sprint_command = lambda: ["-c", "import pathlib, runpy, sys, time\n"
                                          f"while not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.05)\n"
                                          f"sys.argv = ['lab', *{real[2:]!r}]\n"
                                          "runpy.run_module('cli', run_name='__main__')"]
            await pilot.press("s")  # no longer the sprint key
            await pilot.pause()
            assert app.session.sprint_since is None
            app.NOTIFICATION_TIMEOUT = 600  # only the sprint's end may take its announcement down
            await pilot.press("x")
            assert app.session.sprint_since is not None
            await until(pilot, lambda: "sprint running" in screen_text(app), what="the dialogue panel to say so")
            await until(pilot, lambda: "discussing a sprint" in screen_text(app), what="the sprint's announcement")
            gate.touch()
            await until(pilot, lambda: app.session.sprint_since is None, timeout=120, what="the sprint to end")
            await until(pilot, lambda: "discussing a sprint" not in screen_text(app),
                        what="the announcement to end with the sprint")
            assert not any("discussing a sprint" in n.message for n in app._notifications)
            await until(pilot, lambda: "awaits your approval" in screen_text(app), what="the sprint's outcome")
            await until(pilot, lambda: "Proposal" in dialogue_text(app) and "coder" in dialogue_text(app),
                        timeout=10, what="the team's dialogue on the dashboard")
            # the panel's title follows the sprint's end on the next refresh, which a loaded machine delays
            await until(pilot, lambda: "sprint running" not in screen_text(app), what="the panel to drop 'sprint running'")
            exp = lab.experiment(1)
            assert exp["status"] == "awaiting_approval" and exp["source"] == "agents"
            (sprint,) = lab.query("SELECT * FROM sprints")
            assert sprint["stage"] == "awaiting_approval"
            await until(pilot, lambda: "#1" in screen_text(app), what="the proposal in the queue")

            def research_shown() -> str:
                return str(app.screen.query_one("#dialogue-panel").border_subtitle)

            assert "research off" in research_shown()
            await pilot.press("R")
            await until(pilot, lambda: "research on" in research_shown(), timeout=30,
                        what="background research switched on by the engine")
            settings = lab.query("SELECT value FROM settings WHERE key = 'research'")
            assert settings and json.loads(settings[0]["value"]) is True
            await pilot.press("R")
            await until(pilot, lambda: "research off" in research_shown(), timeout=30, what="and off again")
            asked = [json.loads(r["payload"])["value"] for r in lab.query("SELECT payload FROM requests")]
            assert asked == [True, False]
        assert app._exception is None


async def test_read_only_refuses_the_team_keys(lab, app_factory):
    app = app_factory(lab, readonly=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await ready(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "s Sprint" in footer and "R Research" in footer, footer
        await pilot.press("s")
        await until(pilot, lambda: any("read-only mode: cannot ask the research team" in str(n.message)
                                       for n in app._notifications), what="the refusal")
        assert app.session.sprint_since is None
        await pilot.press("R")
        await until(pilot, lambda: any("cannot turn background research on" in str(n.message)
                                       for n in app._notifications), what="the refusal of R")


def test_lab_keys_lists_the_team_keys(lab):
    done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab.root), "keys", "--json"],
                          capture_output=True, text=True, timeout=60, check=True)
    rows = {r["id"]: r for r in json.loads(done.stdout)}
    assert rows["lab.sprint"]["keys"] == "s" and rows["lab.sprint"]["changes"]
    assert rows["lab.research"]["keys"] == "R" and "background research" in rows["lab.research"]["help"]


def test_a_sprint_outcome_is_one_line():
    from tui.sprint import sprint_outcome

    assert sprint_outcome(0, json.dumps({"sprint_id": 3, "stage": "awaiting_approval", "experiment_id": 7,
                                         "note": "autonomy 1"}), "")[0] == \
        "sprint 3: experiment #7 awaits your approval (p to review it)"
    message, _, severity = sprint_outcome(2, "", "lab: config.toml: research.autonomy must be one of 1, 2, 3")
    assert message == "the sprint could not run: lab: config.toml: research.autonomy must be one of 1, 2, 3"
    assert severity == "error"
    assert sprint_outcome(1, json.dumps({"sprint_id": 4, "stage": "failed", "note": "the catalog refused"}),
                          "")[2] == "warning"


async def test_the_tracker_screen_shows_what_lab_report_says(tmp_path: Path, app_factory):
    """t opens the research tracker: the same lines as `lab report --tracker`, from the same function,
    each result counted once as the Ratings panel counts (a superseded run and a reproduction folded)."""
    from tests.records.tracker_lab import add_rerun_and_reproduction, build
    from tui.screens.tracker import TrackerScreen

    with open_lab(tmp_path) as lab:
        lab.lab("status", check=True)
        await build(lab.root)
        more = await add_rerun_and_reproduction(lab.root)
        printed = lab.lab("report", "--tracker", check=True).stdout
        app = app_factory(lab.dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await until(pilot, lambda: "t: tracker" in screen_text(app), what="the key in the ratings panel")
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, TrackerScreen) and app.screen.tracker is not None,
                        what="the tracker screen")
            await pilot.pause()
            shown = screen_text(app)
            from records.reports.lab import tracker_lines

            for what, value in tracker_lines(app.screen.tracker):
                assert any(line.startswith(what) and line.endswith(value) for line in printed.splitlines())
                assert what in shown and value[:40] in shown, (what, value, shown)
            assert f"7-10: 2 · 5-6: 2 · 1-4: 1 (of 5 rated finding(s); 1 reproduction (#{more['P']})" in shown
            assert "2.50x" in shown and "75.0 %" in shown
            for row in ("researcher", "validator", "people"):
                assert row in shown
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, TrackerScreen), what="back to the dashboard")


async def test_the_approval_screen_shows_the_agents_estimate_and_evidence_of_a_real_sprint(tmp_path: Path) -> None:
    """A real `lab sprint` (autonomy 1, the entry asked for by a person) on a lab with past runs of it: the approval screen
    reads the estimate and evidence the sprint wrote (metadata.research), not past runs alone."""
    from db import ExperimentState as E
    from db import IngestBatch, NewExperiment, Store
    from db import RunState as R
    from tui.reader import LabReader
    from tui.widgets.proposal_view import estimate, evidence

    with open_lab(tmp_path) as lab:
        lab.write_config(research_config(autonomy=1, catalog=["fake"], seeds=1))
        store = await Store.open(lab.dir.db)
        try:  # two finished runs of the entry for the architect (and the view's fallback) to estimate from
            past = await store.create_experiment(NewExperiment(name="fake-past", catalog="fake", params={}, plan=[
                {"name": "v", "baseline": True, "depends_on": [], "params": {}}], seeds=2), status=E.APPROVED)
            for run in await store.list_runs(past):
                attempt = await store.start_run(run.id, device="cpu0", run_dir=str(lab.dir.run_dir(run.id)))
                await store.ingest(IngestBatch(run.id, attempt, 0, 10, result={"energy_kwh": 2e-6}))
                await store.finish_run(run.id, R.SUCCEEDED, exit_code=0)
            await store.set_experiment_status(past, E.DONE)
        finally:
            await store.close()
        done = lab.lab("sprint", "--experiment", "fake", check=True, timeout=90)  # a person asks for it again
        assert "awaiting_approval" in done.stdout, done.stdout
        store = await Store.open(lab.dir.db)
        try:
            (waiting,) = await store.list_experiments(statuses=(E.AWAITING_APPROVAL,))
            research = waiting.metadata.research
            assert research is not None and research.estimate is not None and research.estimate.kwh is not None
            proposal = await LabReader(store).proposal(waiting)
            time_text, energy_text = estimate(proposal)
            assert "agent's estimate" in time_text and research.estimate.basis in time_text
            assert energy_text.endswith("(agent's estimate)")
            assert research.evidence and evidence(proposal) == [e.strip() for e in research.evidence if e.strip()]
        finally:
            await store.close()
