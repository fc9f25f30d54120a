"""Text with brackets is text: the command palette survives any query, and experiment names,
hypotheses, parameters, log lines and the agents' words that look like Textual or Rich markup
are shown literally, never parsed (a stray `[/]` used to end the app with a MarkupError)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from contract.experiment_metadata import ExperimentMetadata, ResearchNote
from tests.timing import scaled
from tests.tui.support import ready, until

MARKUP_BITS = ["[/]", "[", "]", "[b]", "[/b]", "[bold red]", "[@click=app.quit]", "[$accent]", "\\", "\\[",
               "[link=x]", "/", "[on]", "[keys]", "$text", "[[", "]]", "[/i]"]
ALPHABET = "[]/\\ab z0@=$#:.é漢字🙂-_()"
RANDOM_QUERIES = 240


def random_queries(count: int, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = [rng.choice(MARKUP_BITS) if rng.random() < 0.4 else rng.choice(ALPHABET)
                 for _ in range(rng.randint(1, 12))]
        out.append("".join(parts))
    return out


class Palette:
    """Types into the open command palette key by key (real key events through the driver, as
    Pilot's `press` sends them, without its idle waits between keys) and waits for its search."""

    def __init__(self, app: Any) -> None:
        self.app, self.asked, self.waited = app, 0, 0
        inner = app.get_system_commands

        def counting(screen: Any) -> Any:  # each search asks the app for its commands once
            self.asked += 1
            return inner(screen)

        app.get_system_commands = counting

    async def type(self, text: str) -> None:
        import unicodedata

        from textual import events
        from textual.keys import _character_to_key

        field = self.app.screen.query_one("CommandInput")
        field.value = ""
        for ch in text:
            key = ch if ch.isalnum() else _character_to_key(ch)
            event = events.Key(key, ch)
            event.set_sender(self.app)
            self.app._driver.send_message(event)
            await asyncio.sleep(0)
        await until_value(self.app, field, text)
        assert unicodedata.normalize("NFC", field.value) == unicodedata.normalize("NFC", text)

    async def searched(self) -> None:
        """Until a search asked for after the last wait has ended."""
        from textual.worker import WorkerState

        palette = self.app.screen
        deadline = time.monotonic() + 20
        while True:
            running = any(w.group == palette._GATHER_COMMANDS_GROUP and w.state in
                          (WorkerState.PENDING, WorkerState.RUNNING) for w in self.app.workers)
            if self.asked > self.waited and not running:
                self.waited = self.asked
                return
            assert time.monotonic() < deadline, "the palette's search did not end"
            await asyncio.sleep(0.005)

    def prompts(self) -> list[str]:
        from textual.command import CommandList

        found = self.app.screen.query_one(CommandList)
        return [str(found.get_option_at_index(i).prompt) for i in range(found.option_count)]


async def until_value(app: Any, field: Any, text: str) -> None:
    deadline = time.monotonic() + scaled(10)
    while field.value != text:
        assert time.monotonic() < deadline, f"the palette's input shows {field.value!r}, not {text!r}"
        await asyncio.sleep(0.005)


def alive(app: Any) -> bool:
    return app.is_running and app._exception is None


@pytest.fixture
def brisk_palette(monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual's palette gathers its providers' hits in 0.1 s waits on their queue (`wait_for` in
    textual/command.py, its only use there), so a search that finds nothing ends only when such a
    wait times out: 0.1 s idle for each random query below, nearly all of which match nothing (~24 s
    of the test). The same search, every provider run to its end, waits 5 ms at a time here."""
    import textual.command

    wait_for = textual.command.wait_for
    monkeypatch.setattr(textual.command, "wait_for", lambda awaitable, timeout: wait_for(awaitable, min(timeout, 0.005)))


async def test_the_palette_survives_every_title_and_random_markup(lab, app_factory, brisk_palette):
    from textual.command import CommandPalette

    app = app_factory(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any("[/]" in t for t in titles), "the filter's title holds the markup-like `[/]`"
        palette = Palette(app)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await palette.searched()
        assert alive(app), "the palette's first list (every command) ended the app"
        assert len(palette.prompts()) >= len(titles), "every command is listed, its title as text"
        for title in titles:
            await palette.type(title)
            await palette.searched()
            assert alive(app), f"the palette ended the app on {title!r}"
            assert title in [p.split("\n")[0] for p in palette.prompts()], f"{title!r} is found by its own title"
        for query in random_queries(RANDOM_QUERIES):
            await palette.type(query)
            await palette.searched()
            assert alive(app), f"the palette ended the app on {query!r}"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CommandPalette), what="the palette to close")
    assert app._exception is None


NAME = "mk[/]x[b]y"
HYPOTHESIS = "Pruning [/] keeps [bold red]accuracy[/] [@click=app.quit]q[/] \\[not markup]"
PARAM = "[red]p[/]"
VARIANT = "[i]v[/i]"
SAID = "The model says [/b] and [link=https://x]here[/link] [$accent]!"
LOGGED = "epoch 3 [/] loss [dim]0.1[/dim]"
FINDING = "[on] magnitude keeps [b]it[/] within 1 point"
EVIDENCE = "p = [b]0.04[/] on [keys] seeds"


async def _experiments_with_markup(lab: Any) -> tuple[int, int]:
    from db import ExperimentState as E
    from db import IngestBatch, NewExperiment, Store
    from db import RunState as R

    store = await Store.open(lab.db)
    try:
        variants = [{"name": "dense", "baseline": True, "depends_on": [], "params": {}},
                    {"name": VARIANT, "baseline": False, "depends_on": ["dense"], "params": {}}]
        waiting = await store.create_experiment(NewExperiment(
            name=NAME, catalog="pruning", params={"epochs": 3, "note": PARAM}, plan=variants, seeds=1,
            hypothesis=HYPOTHESIS, research_question=f"Why {PARAM}?", source="agents", parent_id=1,
            metadata=ExperimentMetadata(research=ResearchNote(evidence=(FINDING,)))), status=E.AWAITING_APPROVAL)
        done = await store.create_experiment(NewExperiment(
            name=NAME + "-done", catalog="pruning", params={"epochs": 3, "note": PARAM}, plan=variants, seeds=1,
            hypothesis=HYPOTHESIS), status=E.APPROVED)
        runs = await store.list_runs(done)
        for run in runs:
            run_dir = lab.run_dir(run.id)
            run_dir.mkdir(parents=True, exist_ok=True)
            attempt = await store.start_run(run.id, device="cpu0", run_dir=str(run_dir))
            await store.ingest(IngestBatch(run.id, attempt, 0, 10, metrics=[(0, "train_loss", 1.0, 0.0)],
                                           progress=(1, 1), result={"test_accuracy": 0.9, "energy_kwh": 1e-6},
                                           logs=[("info", LOGGED)]))
            (run_dir / "stderr").write_text(LOGGED + "\n")
            await store.finish_run(run.id, R.SUCCEEDED, exit_code=0)
        await store.set_experiment_status(done, E.DONE)
        from tests.tui.tui_fixture_lab import BREAKDOWN

        criteria = [{**BREAKDOWN["criteria"][0], "evidence": EVIDENCE}, *BREAKDOWN["criteria"][1:]]
        breakdown = {**BREAKDOWN, "findings": [FINDING], "criteria": criteria,
                     "variants": {VARIANT: BREAKDOWN["variants"]["magnitude-50"]},
                     "headline": {**BREAKDOWN["headline"], "variant": VARIANT}}
        await store.update_experiment(done, rating=9, rating_breakdown=breakdown)
        await store.add_message("researcher", SAID, experiment_id=waiting, kind="proposal")
        await store.add_message("validator", SAID, experiment_id=done, kind="verdict")
    finally:
        await store.close()
    return waiting, done


def screen_text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_text_that_looks_like_markup_is_shown_as_it_is(lab, app_factory):
    from tui.screens.approval import ApprovalScreen
    from tui.screens.detail import TABS, DetailScreen
    from tui.widgets.queue_table import QueueTable

    waiting, done = await _experiments_with_markup(lab)
    app = app_factory(lab)
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await ready(pilot)
        await until(pilot, lambda: NAME in screen_text(app), what="the experiment's name in the queue, as typed")
        await until(pilot, lambda: "[link=https://x]here[/link]" in screen_text(app),
                    what="the agent's words in the dialogue")
        app.notify(f"{NAME} [@click=app.quit]q[/]")
        await until(pilot, lambda: "[@click=app.quit]q[/]" in screen_text(app), what="the notification, literally")
        assert alive(app)
        await pilot.press("slash", *"[/]x")  # the queue's filter: its text is shown in the panel's title
        await until(pilot, lambda: "filter “[/]x”" in screen_text(app), what="the filter's text in the title")
        assert alive(app)
        await pilot.press("escape")

        app.push_screen(ApprovalScreen(app.session, waiting))
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.proposal is not None,
                    what="the proposal with markup")
        await until(pilot, lambda: "[bold red]accuracy[/]" in screen_text(app), what="its hypothesis")
        text = screen_text(app)
        assert PARAM in text and FINDING in text, text
        await pilot.press("escape")

        await until(pilot, lambda: f"e{done}" in [k for k, _ in app.screen.query_one(QueueTable)._rows])
        app.push_screen(DetailScreen(app.session, done))
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.detail is not None)
        shown = {"tab-plan": [NAME, HYPOTHESIS[:30], PARAM, VARIANT], "tab-rating": [FINDING, EVIDENCE],
                 "tab-dialogue": ["[link=https://x]here[/link]"], "tab-logs": [LOGGED], "tab-metrics": [VARIANT]}
        # the genealogy of the proposal (a follow-up of #1) shows its name as a tree label
        for tab in TABS:
            app.screen.query_one("#tabs").active = tab
            await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            for literal in shown.get(tab, []):
                await until(pilot, lambda literal=literal: literal in screen_text(app), what=f"{literal!r} in {tab}")
            assert alive(app), tab
        app.pop_screen()
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen))
        app.push_screen(DetailScreen(app.session, waiting))
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.detail is not None)
        app.screen.query_one("#tabs").active = "tab-genealogy"
        await until(pilot, lambda: f"#{waiting} {NAME}" in screen_text(app), what="the name in the genealogy")
        app.screen.query_one("#tabs").active = "tab-plan"
        await until(pilot, lambda: f"Why {PARAM}?" in screen_text(app), what="the research question")
        assert alive(app)
    assert app._exception is None
