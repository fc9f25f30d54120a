"""One experiment in depth: plan and runs, metrics with CIs, curves, the rating breakdown, its
dialogue, its genealogy, and the log tail of a run. Every interval shown is the validator's
(stored in the rating breakdown) or computed by the same `science.stats`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import NamedTuple

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from contract import units
from db import Experiment, Run, RunState
from tui import keys
from tui.reader import ExperimentDetail
from tui.screens.base import ExperimentActions
from tui.session import Session
from tui.widgets.curve_series import Curves, last_step, merge
from tui.widgets.curves import CurvePlot
from tui.widgets.dialogue import DialogueView
from tui.widgets.footer import LabFooter
from tui.widgets.genealogy import GenealogyTree
from tui.widgets.log_tail import LogTail, tail
from tui.widgets.metrics_table import MetricsTable
from tui.widgets.proposal_view import value
from tui.widgets.rating_view import RatingView
from tui.widgets.runs_table import RunsTable
from tui.workers import db_work


class CurveRead(NamedTuple):
    """The points read for the selected run: its (run, attempt), the plot's title, the new points."""

    key: tuple[int, int]
    title: str
    points: Curves


class RunRead(NamedTuple):
    """What a refresh reads of the selected run: its new points, its log tail (title, text) when
    the Logs tab shows."""

    curve: CurveRead | None
    log: tuple[str, str] | None


TABS = ["tab-plan", "tab-metrics", "tab-curves", "tab-rating", "tab-dialogue", "tab-genealogy", "tab-logs"]


def overview(exp: Experiment) -> Group:
    parts: list[Text | Table] = []
    job = exp.metadata.job  # a job in the published format (science/jobs.py)
    if job is not None:
        for label, said in (("External id", job.experiment_id), ("Description", job.description)):
            if said:
                parts.append(Text.assemble((f"{label}: ", "bold"), said))
    for label, text in (("Hypothesis", exp.hypothesis), ("Research question", exp.research_question),
                        ("Error", exp.error), ("Rejected because", exp.reject_reason)):
        if text:
            parts.append(Text.assemble((f"{label}: ", "bold"), str(text)))
    params = Table(box=None, padding=(0, 2, 0, 0), show_header=False, title="Parameters", title_justify="left",
                   title_style="bold")
    params.add_column("k", style="dim")
    params.add_column("v")
    for k in sorted(exp.params):
        params.add_row(Text(k), Text(value(exp.params[k])))  # text, never markup
    parts.append(params)
    plan = Text.assemble(("Plan: ", "bold"), f"{len(exp.plan)} variant(s) x {exp.seeds} seed(s)")
    for v in exp.plan:
        plan.append(f"\n  {v.name}")
        if v.baseline:
            plan.append(" (baseline)", style="dim")
        if v.depends_on:
            plan.append(f" ← {', '.join(v.depends_on)}", style="dim")
    parts.append(plan)
    return Group(*parts)


class DetailScreen(ExperimentActions):
    BINDINGS = keys.bindings(keys.DETAIL, keys.EXPERIMENT)
    KEY_SCOPES = (keys.DETAIL, keys.EXPERIMENT, keys.QUEUE_NAV)

    def __init__(self, session: Session, experiment_id: int, run_id: int | None = None) -> None:
        super().__init__(session)
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.detail: ExperimentDetail | None = None
        self.log_stream = "stderr"
        self._version = -1
        self._curve_key: tuple[int, int] | None = None
        self._curves: dict[str, list[tuple[int, float]]] = {}
        self._run_lock = asyncio.Lock()
        self._now = 0.0

    def compose(self) -> ComposeResult:
        yield from self.status_line()
        yield Static(f"experiment #{self.experiment_id}", id="detail-head", markup=False)
        with TabbedContent(id="tabs"):
            with TabPane("Plan & runs", id="tab-plan"), VerticalScroll():
                yield RunsTable(id="runs")
                yield Static("", id="overview")
            with TabPane("Metrics", id="tab-metrics"), VerticalScroll():
                yield MetricsTable(id="metrics")
            with TabPane("Curves", id="tab-curves"):
                yield CurvePlot("this run has no metric points yet", id="detail-curves",
                                every_s=self.session.settings.curves_s)
            with TabPane("Rating", id="tab-rating"), VerticalScroll():
                yield RatingView(id="rating")
            with TabPane("Dialogue", id="tab-dialogue"):
                yield DialogueView(show_experiment=False, id="detail-dialogue")
            with TabPane("Genealogy", id="tab-genealogy"):
                yield GenealogyTree(id="genealogy")
            with TabPane("Logs", id="tab-logs"):
                yield LogTail(id="logs")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()

    # -- data ----------------------------------------------------------------------------------

    async def poll(self, version: int, now: float) -> None:
        reader = self.session.reader
        if reader is None:
            return
        self._now = now
        detail: ExperimentDetail | None = None
        if version != self._version:
            self._version = version
            detail = await reader.experiment(self.experiment_id)
            if detail is None:
                self.query_one("#detail-head", Static).update(f"no experiment #{self.experiment_id}")
                return
            self.detail = detail
            self._pick_run(detail)
        # the run's points and log are read before anything of this refresh is shown: what it
        # changes is then painted in one screen update (a read between two changes would split it)
        async with self._run_lock:  # the refresh and a selection change may both read
            read = await self._read_run()
            if detail is not None:
                self._show_detail(detail)
            elif self.detail is not None:
                self.query_one(RunsTable).show(self.detail.runs, now)
            self._show_run(read)

    def _pick_run(self, d: ExperimentDetail) -> None:
        """The run shown at first: a running one, else the first."""
        if self.run_id is None and d.runs:
            running = [r for r in d.runs if r.status == RunState.RUNNING]
            self.run_id = (running or d.runs)[0].id

    def _show_detail(self, d: ExperimentDetail) -> None:
        exp = d.experiment
        head = Text()
        head.append(f"#{exp.id} {exp.name}", style="bold")
        head.append(f" ({exp.catalog})  {exp.status}  priority {exp.priority}")
        if exp.rating is not None:
            head.append(f"  rating {exp.rating:g}/10", style="bold")
            headline = exp.breakdown.headline
            if headline is not None and headline.control_valid is False:
                head.append("  comparison void (invalid control: see Rating)", style="bold red")
        if exp.parent_id:
            head.append(f"  follow-up of #{exp.parent_id}")
        head.append(f"  created {units.since(exp.created_at, self._now)}", style="dim")
        if exp.git_sha:
            head.append(f"  git {exp.git_sha[:8]}", style="dim")
        self.query_one("#detail-head", Static).update(head)
        self.query_one("#overview", Static).update(overview(exp))
        runs = self.query_one(RunsTable)
        runs.show(d.runs, self._now)
        if self.run_id is not None:
            runs.select_run(self.run_id)
        self.query_one(MetricsTable).show(exp, d.runs)
        self.query_one(RatingView).show(exp)
        self.query_one(GenealogyTree).show(d.family, exp.id)
        dialogue = self.query_one(DialogueView)
        dialogue.empty_text = "The agents have said nothing about this experiment yet."
        dialogue.show(d.messages)

    def _run(self) -> Run | None:
        if self.detail is None:
            return None
        return next((r for r in self.detail.runs if r.id == self.run_id), None)

    async def _read_run(self) -> RunRead:
        logs = self.query_one(TabbedContent).active == "tab-logs"
        return RunRead(await self._read_points(), await self._read_log() if logs else None)

    def _show_run(self, read: RunRead) -> None:
        self._show_points(read.curve)
        if read.log is not None:
            self.query_one(LogTail).show(*read.log)

    async def _read_points(self) -> CurveRead | None:
        """The selected run's points after those shown (all of them for another run or attempt)."""
        reader, run = self.session.reader, self._run()
        if run is None or reader is None:
            return None
        key = (run.id, run.attempt)
        after = last_step(self._curves) if key == self._curve_key else -1
        points = await reader.curve(run.id, run.attempt, after) if run.attempt else {}
        return CurveRead(key, f"run {run.id} {run.variant} s{run.seed} (attempt {run.attempt})", points)

    def _show_points(self, read: CurveRead | None) -> None:
        if read is None:
            return
        plot = self.query_one("#detail-curves", CurvePlot)
        if read.key != self._curve_key:  # another run or attempt: drawn at once, with its points
            self._curve_key, self._curves = read.key, {}
            merge(self._curves, read.points)
            plot.set_curves(self._curves, read.title)
        elif merge(self._curves, read.points):
            plot.touched()

    async def _read_log(self) -> tuple[str, str]:
        """The title and text of the selected run's log tail."""
        run = self._run()
        if run is None:
            return "no run", ""
        run_dir = Path(run.run_dir or self.session.lab.run_dir(run.id))
        content = await asyncio.to_thread(tail, run_dir / self.log_stream)
        other = "stdout" if self.log_stream == "stderr" else "stderr"
        title = f"run {run.id} {run.variant} s{run.seed} · {self.log_stream} (l: {other}, [ ]: other runs)"
        return title, content if content is not None else f"(no {self.log_stream} yet: the run is {run.status})"

    @db_work(group="detail", exclusive=True, where="reading the run")
    async def _reload_run(self) -> None:
        async with self._run_lock:
            self._show_run(await self._read_run())

    # -- events and actions ------------------------------------------------------------------

    @on(RunsTable.Selected)
    def _run_selected(self, event: RunsTable.Selected) -> None:
        if event.run_id is not None and event.run_id != self.run_id:
            self.run_id = event.run_id
            self._reload_run()

    @on(TabbedContent.TabActivated)
    def _tab(self, event: TabbedContent.TabActivated) -> None:
        self._reload_run()

    def _step_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        index = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(index + step) % len(TABS)]

    def action_next_tab(self) -> None:
        self._step_tab(1)

    def action_prev_tab(self) -> None:
        self._step_tab(-1)

    def _step_run(self, step: int) -> None:
        if self.detail is None or not self.detail.runs:
            return
        ids = [r.id for r in self.detail.runs]
        index = ids.index(self.run_id) if self.run_id in ids else 0
        self.run_id = ids[(index + step) % len(ids)]
        self.query_one(RunsTable).select_run(self.run_id)
        self._reload_run()

    def action_next_run(self) -> None:
        self._step_run(1)

    def action_prev_run(self) -> None:
        self._step_run(-1)

    def action_log_stream(self) -> None:
        self.log_stream = "stdout" if self.log_stream == "stderr" else "stderr"
        self.query_one(TabbedContent).active = "tab-logs"
        self._reload_run()

    def current(self) -> tuple[int | None, int | None]:
        """Actions here are on the experiment (cancel one run from the dashboard's queue)."""
        return self.experiment_id, None

    def current_priority(self) -> int | None:
        return self.detail.experiment.priority if self.detail is not None else 0
