"""The dashboard: gauges, the queue, the agents' dialogue, the leaderboard and the curves of the
selected run, under a status line. Usable at 80x24, roomier at 160x50."""

from __future__ import annotations

import asyncio

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.containers import Container, Vertical
from textual.content import Content
from textual.widgets import Input, Static

from contract import requests as rq
from db import RunState
from db.states import EXPERIMENT_WAITING
from tui import keys
from tui.messages import RefreshWanted, SprintAsked
from tui.ratings import LeaderRow
from tui.reader import DIALOGUE, Gauges, Message, QueueExperiment
from tui.screens.base import ExperimentActions
from tui.session import Session
from tui.widgets.curve_series import last_step, merge
from tui.widgets.curves import CurvePlot
from tui.widgets.dialogue import DialogueView
from tui.widgets.footer import LabFooter
from tui.widgets.gauges import GaugePanel
from tui.widgets.leaderboard import Leaderboard
from tui.widgets.queue_table import QueueTable, Selection
from tui.workers import db_work


class DashboardScreen(ExperimentActions):
    BINDINGS = keys.bindings(keys.DASHBOARD, keys.EXPERIMENT)
    KEY_SCOPES = (keys.DASHBOARD, keys.EXPERIMENT, keys.QUEUE_NAV)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (Textual types it an instance attribute)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.experiments: tuple[QueueExperiment, ...] = ()
        self.selection = Selection(None, None)
        self.follow_selected = False
        self._version = -1
        self._messages: dict[int, Message] = {}
        self._msg_since: float | None = None
        self._msg_scope: int | str | None = "unset"
        self._curve_key: tuple[int, int] | None = None
        self._curves: dict[str, list[tuple[int, float]]] = {}
        self._curve_lock = asyncio.Lock()
        self._curve_stamp: object = None
        self._msg_stamp: object = None
        self._now = 0.0
        self._research_asked: bool | None = None  # asked of the engine, not yet seen in the settings

    def compose(self) -> ComposeResult:
        yield from self.status_line()
        yield GaugePanel(id="gauges")
        with Container(id="panels"):
            with Vertical(id="queue-panel", classes="panel"):
                yield QueueTable(id="queue")
                yield Static(self.empty_hint(), id="queue-empty", markup=False)
                yield Input(placeholder="filter: id, name, entry, state, variant (enter: keep, esc: clear)",
                            id="filter")
            with Vertical(id="dialogue-panel", classes="panel"):
                yield DialogueView(id="dialogue")
            with Vertical(id="curves-panel", classes="panel"):
                yield CurvePlot("no run is running: select a run to see its curves", id="curves",
                                every_s=self.session.settings.curves_s)
            with Vertical(id="ratings-panel", classes="panel"):
                yield Leaderboard(id="leaderboard")
        yield LabFooter()

    def empty_hint(self) -> str:
        keymap = self.session.settings.keymap

        def key(binding_id: str) -> str:
            return keys.display_keys(keys.keys_for(binding_id, keymap))

        return (f"The queue is empty. {key('lab.sprint')} asks the research team for a sprint now: its "
                f"proposal appears here and its dialogue beside; {key('lab.research')} lets the team go on "
                f"by itself (background research); {key('lab.new')} queues an experiment from the catalog.")

    def on_mount(self) -> None:
        self.query_one("#queue-panel").border_title = "Queue"
        self.query_one("#ratings-panel").border_title = "Ratings"
        self.query_one("#curves-panel").border_title = "Curves"
        self._title_dialogue()
        self.query_one("#filter", Input).display = False
        self.query_one("#queue-empty").display = False
        self.query_one(QueueTable).focus()

    def _title_dialogue(self) -> None:
        scope = self._dialogue_scope()
        self.query_one("#dialogue-panel").border_title = "Dialogue" + (f" · #{scope}" if scope is not None
                                                                       else " · all")
        self._subtitle_dialogue()

    def _subtitle_dialogue(self) -> None:
        """What the team is doing (a sprint asked from here, background research), and f's use."""
        status = self.session.status
        if status.research == self._research_asked:
            self._research_asked = None
        parts = ["sprint running"] if self.session.sprint_since is not None else []
        if status.loaded:
            parts.append("research " + ("on" if status.research else "off"))
        parts.append("f: " + ("all" if self.follow_selected else "follow"))
        self._set_subtitle("#dialogue-panel", " · ".join(parts))

    # -- data ----------------------------------------------------------------------------------

    async def poll(self, version: int, now: float) -> None:
        reader = self.session.reader
        if reader is None:
            return
        self._now = now
        from tui.clock import start_of_day

        shown: tuple[Gauges, tuple[LeaderRow, ...]] | None = None
        if version != self._version:
            self._version = version
            gauges = await reader.gauges(today=start_of_day(now))
            self.experiments = await reader.queue()
            leaders = await reader.leaderboard()
            if reader.stamps.get("messages") != self._msg_stamp or self._dialogue_scope() != self._msg_scope:
                self._msg_stamp = reader.stamps.get("messages")
                await self._read_messages()
            shown = gauges, leaders
        # read before anything is shown: a read between two changes would split the screen update
        await self._read_curves()
        if shown is not None:
            self._show(*shown)
        self.query_one(QueueTable).show(self.experiments, now)
        empty = self.query_one("#queue-empty")
        if empty.display != (not self.experiments):
            empty.display = not self.experiments
            table = self.query_one(QueueTable)
            table.display = bool(self.experiments)
            if self.experiments and self.focused is None:
                table.focus()
        self._update_badge()
        self._subtitle_dialogue()

    def _show(self, gauges: Gauges, leaders: tuple[LeaderRow, ...]) -> None:
        self.query_one(GaugePanel).show(gauges)
        self.query_one(Leaderboard).show(leaders)
        tracker = keys.display_keys(keys.keys_for("lab.tracker", self.session.settings.keymap))
        prelim = sum(1 for r in leaders if r.preliminary)
        folded = sum(1 for r in leaders if r.folded)  # counted with the result above them (science/counting.py)
        self._set_subtitle("#ratings-panel", (f"{len(leaders)} rated · " if leaders else "")
                           + (f"{prelim} p: preliminary · " if prelim else "")
                           + (f"{folded} ↳: reproduction or superseded · " if folded else "") + f"{tracker}: tracker")

    def _set_subtitle(self, selector: str, text: str) -> None:
        panel = self.query_one(selector)
        if panel.border_subtitle != text:
            panel.border_subtitle = text

    def _update_badge(self) -> None:
        waiting = sum(1 for e in self.experiments if e.status in EXPERIMENT_WAITING)
        running = sum(1 for e in self.experiments for r in e.runs if r.status == RunState.RUNNING)
        parts = [f"{running} running"] if running else []
        if waiting:
            parts.append(f"{waiting} awaiting approval (p)")
        self._set_subtitle("#queue-panel", " · ".join(parts))

    def _dialogue_scope(self) -> int | None:
        return self.selection.experiment_id if self.follow_selected else None

    async def _read_messages(self) -> None:
        reader = self.session.reader
        assert reader is not None
        scope = self._dialogue_scope()
        if scope != self._msg_scope:
            self._msg_scope = scope
            self._messages = {}
            self._msg_since = None
            rows = await reader.messages(experiment_id=scope, limit=DIALOGUE)
        else:
            rows = await reader.messages(experiment_id=scope, changed_since=self._msg_since, limit=DIALOGUE)
        for m in rows:
            self._messages[m.id] = m
            if self._msg_since is None or m.updated_at > self._msg_since:
                self._msg_since = m.updated_at
        if len(self._messages) > DIALOGUE:
            for old in sorted(self._messages)[:-DIALOGUE]:
                del self._messages[old]
        self.query_one(DialogueView).show([self._messages[i] for i in sorted(self._messages)])

    def _curve_target(self) -> tuple[int | None, str]:
        sel = self.selection
        for e in self.experiments:
            if e.id != sel.experiment_id:
                continue
            if sel.run_id is not None:
                run = next((r for r in e.runs if r.id == sel.run_id), None)
                return sel.run_id, f"run {sel.run_id} {run.variant} s{run.seed}" if run else f"run {sel.run_id}"
            running = [r for r in e.runs if r.status == RunState.RUNNING]
            if running:
                r = running[0]
                return r.id, f"run {r.id} {r.variant} s{r.seed}"
        # nothing running is selected: follow the first running run of the queue
        for e in self.experiments:
            for r in e.runs:
                if r.status == RunState.RUNNING:
                    return r.id, f"#{e.id} run {r.id} {r.variant} s{r.seed}"
        return None, ""

    async def _read_curves(self) -> None:
        async with self._curve_lock:  # the refresh and a selection change may both read
            await self._read_curves_locked()

    async def _read_curves_locked(self) -> None:
        """New points of the followed run, read only when runs changed and the plot would draw
        them: it redraws at most every `[tui] curves_s` seconds (at once when the selection
        changes), so the points of the seconds between are read with the next drawing's."""
        reader, store = self.session.reader, self.session.store
        assert reader is not None and store is not None
        plot = self.query_one(CurvePlot)
        run_id, title = self._curve_target()
        if run_id is None:
            if self._curve_key is not None:
                self._curve_key = None
                self._curves = {}
                plot.set_curves(self._curves, "")
            return
        if self._curve_key is not None and self._curve_key[0] == run_id and \
                reader.stamps.get("runs") == self._curve_stamp:
            return
        # the run's attempt and state: from the queue's read of this refresh when the run is in it
        # (an active experiment's), else asked of the database
        queued = next((r for e in self.experiments for r in e.runs if r.id == run_id), None)
        status: RunState | None
        if queued is not None:
            attempt, status = queued.attempt, queued.status
        else:
            run = await store.get_run(run_id)
            attempt, status = (run.attempt, run.status) if run else (0, None)
        key = (run_id, attempt)
        if key == self._curve_key and not plot.due():
            return  # new points would wait for the next drawing: read them with it (one read, not three)
        self._curve_stamp = reader.stamps.get("runs")
        if key != self._curve_key:
            self._curve_key = key
            self._curves = {}
            plot.set_curves(self._curves, title)
        if attempt and status not in (RunState.PENDING, RunState.QUEUED):
            new = await reader.curve(run_id, attempt, last_step(self._curves))
            if merge(self._curves, new):
                plot.touched()

    # -- events ----------------------------------------------------------------------------------

    @on(QueueTable.Selected)
    def _selected(self, event: QueueTable.Selected) -> None:
        self.selection = event.selection
        if self.follow_selected:
            self._title_dialogue()
        self._reload_selection()

    @db_work(group="selection", exclusive=True, where="reading the selection")
    async def _reload_selection(self) -> None:
        if self.session.reader is None:
            return
        await self._read_curves()
        if self.follow_selected:
            await self._read_messages()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(QueueTable).set_filter(event.value)
        # the typed text is shown as it is (a border title is otherwise read as markup)
        self.query_one("#queue-panel").border_title = Content(f"Queue · filter “{event.value}”") if event.value \
            else "Queue"

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.display = False
        self.query_one(QueueTable).focus()

    # -- actions ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self.query_one("#filter", Input).value) or self.query_one("#filter", Input).has_focus
        return True

    def current(self) -> tuple[int | None, int | None]:
        focused = self.focused
        if isinstance(focused, Leaderboard):
            return focused.selected_experiment, None
        return self.selection.experiment_id, self.selection.run_id

    def current_priority(self) -> int | None:
        exp_id, _ = self.current()
        if exp_id is None:
            return None
        return next((e.priority for e in self.experiments if e.id == exp_id), 0)

    def action_open_detail(self) -> None:
        exp_id, run_id = self.current()
        if exp_id is None:
            self.notify("the queue is empty: nothing to open", severity="warning")
            return
        from tui.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(self.session, exp_id, run_id))

    def action_proposals(self) -> None:
        from tui.screens.approval import ApprovalScreen

        sel = self.selection
        start = sel.experiment_id if sel.status in EXPERIMENT_WAITING else None
        self.app.push_screen(ApprovalScreen(self.session, start))

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        field.display = False
        self.query_one(QueueTable).focus()

    def action_toggle_follow(self) -> None:
        self.follow_selected = not self.follow_selected
        self._title_dialogue()
        self.query_one(DialogueView).clear_messages()
        self._reload_selection()

    def action_new_experiment(self) -> None:
        if not self.allowed("create an experiment"):
            return
        from tui.screens.new_experiment import NewExperimentScreen

        self.app.push_screen(NewExperimentScreen(self.session))

    def action_tracker(self) -> None:
        from tui.screens.tracker import TrackerScreen

        self.app.push_screen(TrackerScreen(self.session))

    def action_roadmap(self) -> None:
        from tui.screens.roadmap import RoadmapScreen

        self.app.push_screen(RoadmapScreen(self.session))

    def action_sprint(self) -> None:
        self.app.post_message(SprintAsked())

    def action_toggle_research(self) -> None:
        # what was last asked counts until the engine has done it: two quick presses are on, then off
        asked = self._research_asked
        self._research(not (asked if asked is not None else self.session.status.research))

    def action_toggle_pause(self) -> None:
        paused = self.session.status.paused
        what = "resume the queue" if paused else "pause the queue"
        if self.allowed(what):
            self._lab_request(rq.Resume() if paused else rq.Pause(), what)

    def action_autonomy(self) -> None:
        if not self.allowed("change the autonomy level"):
            return
        from tui.screens.choice import ChoiceScreen

        current = self.session.status.autonomy
        options = [("1", "1 assisted: you approve every experiment"),
                   ("2", "2 semi-autonomous: follow-ups of approved lines run on their own"),
                   ("3", "3 autonomous: the agents run within the budgets")]

        def done(choice: str | None) -> None:
            if choice is not None and int(choice) != current:
                self.set_autonomy(int(choice))

        self.app.push_screen(ChoiceScreen("Autonomy level", options, str(current)), done)

    def set_autonomy(self, level: int) -> None:
        if self.allowed(f"set autonomy to {level}"):
            self._lab_request(rq.Setting("autonomy", level), f"set autonomy to {level}")

    @db_work(group="action", where="request")
    async def _lab_request(self, request: rq.Request, what: str) -> None:
        await self.session.actions.request(request, what=what)
        self.app.post_message(RefreshWanted())

    def extra_commands(self) -> list[SystemCommand]:
        cmds = [SystemCommand("Set priority…", "type the priority of the selected experiment", self.set_priority)]
        for level, name in ((1, "assisted"), (2, "semi-autonomous"), (3, "autonomous")):
            cmds.append(SystemCommand(f"Autonomy {level}: {name}", f"set the autonomy level to {level}",
                                      lambda level=level: self.set_autonomy(level)))
        return cmds

    def _research(self, on_: bool) -> None:
        what = f"turn background research {'on' if on_ else 'off'}"
        if self.allowed(what):
            self._research_asked = on_
            self._lab_request(rq.Setting("research", on_), what)
