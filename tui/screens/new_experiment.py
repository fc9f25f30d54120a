"""A new experiment from the catalog: pick an entry, fill its parameters (each with its help and
range, checked as you submit), and it is queued approved, as `lab run` does. While the chosen
profile or seeds cannot earn a finding (smoke, fewer seeds than the rubric asks), it says so."""

from __future__ import annotations

import asyncio

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from contract import requests as rq
from contract.catalog_answer import CatalogEntry
from contract.limits import MAX_PRIORITY, MAX_SEEDS, MIN_PRIORITY, MIN_SEEDS, priority_problem, seeds_problem
from science.jobs import Job, JobError, check_name
from science.rubric import preliminary_note, preliminary_reason
from tui import keys
from tui.messages import RefreshWanted
from tui.params import validate
from tui.screens.modal import LabModal
from tui.session import Session
from tui.widgets.footer import LabFooter
from tui.widgets.param_form import ParamForm
from tui.workers import db_work


class NewExperimentScreen(LabModal[int | None]):
    BINDINGS = keys.bindings(keys.FORM)
    KEY_SCOPES = (keys.FORM,)

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.entries: dict[str, CatalogEntry] = {}
        self.entry: CatalogEntry | None = None
        self._sending = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form-dialog", id="new-dialog"):
            yield Static("New experiment", classes="dialog-title")
            yield Static("reading the catalog…", id="form-loading", classes="dialog-text")
            yield OptionList(id="catalog-list")
            yield Static("", id="entry-summary", markup=False)
            with Vertical(id="job-fields"):
                with Horizontal(classes="form-row"):
                    yield Label("name", classes="form-label")
                    yield Input(id="job-name", classes="form-wide")
                with Horizontal(classes="form-row"):
                    yield Label("seeds", classes="form-label")
                    yield Input("1", id="job-seeds", classes="form-short")
                    yield Label("priority", classes="form-label")
                    yield Input("0", id="job-priority", classes="form-short")
                with Horizontal(classes="form-row"):
                    yield Label("hypothesis", classes="form-label")
                    yield Input(id="job-hypothesis", classes="form-wide", placeholder="what you expect and why")
            yield Static("", id="form-preliminary", classes="dialog-text", markup=False)
            yield Static("", id="form-message", classes="dialog-error", markup=False)
            yield Static("enter: choose the entry    ctrl+s: check and queue    esc: cancel", classes="dialog-hint")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one("#form-message").display = False
        self.query_one("#form-preliminary").display = False
        self.query_one("#job-fields").display = False
        self.query_one("#catalog-list").display = False
        self.load_catalog()
        self.warm_engine()

    @db_work(group="warm", where="asking the engine to warm up")
    async def warm_engine(self) -> None:
        """The engine's warm worker runs on demand: it starts now, while the form is filled in, so
        the run starts fast (it stops again after [executor] warm_idle_s if nothing is queued)."""
        await self.session.actions.request(rq.Warm(), what="warm up for a new experiment", notify=False)

    @db_work(group="form", where="reading the catalog")
    async def load_catalog(self) -> None:
        catalog = await self.session.catalog()
        self.entries = await asyncio.to_thread(catalog.entries)
        options = self.query_one("#catalog-list", OptionList)
        options.add_options([Option(f"{e.name}  ({e.area}) {e.title}", id=e.name)
                             for e in sorted(self.entries.values(), key=lambda e: e.name)])
        self.query_one("#form-loading").remove()
        options.display = True
        options.focus()
        if options.option_count:
            options.highlighted = 0

    @on(OptionList.OptionHighlighted, "#catalog-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.entries.get(event.option.id or "")
        if entry is not None:
            self.query_one("#entry-summary", Static).update(f"{entry.summary}\n{entry.literature}".strip())

    @on(OptionList.OptionSelected, "#catalog-list")
    async def _chosen(self, event: OptionList.OptionSelected) -> None:
        entry = self.entries.get(event.option.id or "")
        if entry is None:
            return
        await self.choose(entry)

    async def choose(self, entry: CatalogEntry) -> None:
        self.entry = entry
        for old in self.query(ParamForm):
            await old.remove()
        self.query_one("#catalog-list").display = False
        self.query_one("#entry-summary", Static).update(f"{entry.name}: {entry.summary}")
        self.query_one("#job-fields").display = True
        self.query_one("#job-name", Input).value = entry.name
        form = ParamForm(entry, id="form")
        await self.query_one("#new-dialog").mount(form, before=self.query_one("#form-message"))
        self.query_one(".dialog-hint", Static).update("ctrl+s: check and queue    esc: cancel")
        self.query_one("#job-name", Input).focus()
        self.preliminary_hint()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id in ("job-seeds", "param-profile"):
            self.preliminary_hint()

    def preliminary_hint(self) -> str | None:
        """Says, as the seeds or the profile change, when they cannot earn a finding (the rubric's
        one rule: science/rubric.preliminary_reason); the reason, or None."""
        if self.entry is None:
            return None
        texts = self.query_one(ParamForm).texts() if self.query(ParamForm) else {}
        profile = texts.get("profile", "").strip() or self.entry.defaults().get("profile")
        seeds_text = self.query_one("#job-seeds", Input).value.strip()
        reason = preliminary_reason(profile, int(seeds_text)) if seeds_text.isdigit() else None
        hint = self.query_one("#form-preliminary", Static)
        hint.update(f"! {preliminary_note(reason)}" if reason else "")
        hint.display = bool(reason)
        return reason

    def _message(self, text: str | None) -> None:
        message = self.query_one("#form-message", Static)
        message.update(f"✗ {text}" if text else "")
        message.display = bool(text)

    def _job(self) -> Job | None:
        assert self.entry is not None
        form = self.query_one(ParamForm)
        values, problems = validate(self.entry, form.texts())
        form.show_errors(problems)
        name = self.query_one("#job-name", Input).value.strip() or self.entry.name
        general = []
        if (problem := check_name(name)) is not None:
            general.append(problem)
        seeds_text = self.query_one("#job-seeds", Input).value.strip()
        priority_text = self.query_one("#job-priority", Input).value.strip()
        seeds = int(seeds_text) if seeds_text.lstrip("-").isdigit() else None
        if seeds_problem(seeds):
            general.append(f"seeds: a whole number from {MIN_SEEDS} to {MAX_SEEDS}")
        priority = int(priority_text or "0") if (priority_text or "0").lstrip("-").isdigit() else None
        if priority_problem(priority):
            general.append(f"priority: a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}")
        if problems or general or seeds is None or priority is None:  # None is a problem too
            self._message("; ".join(general) if general else f"{len(problems)} value(s) to fix")
            return None
        self._message(None)
        defaults = self.entry.defaults()
        params = {k: v for k, v in values.items() if defaults.get(k) != v}
        return Job(experiment=self.entry.name, params=params, name=name, seeds=seeds, priority=priority,
                   hypothesis=self.query_one("#job-hypothesis", Input).value.strip())

    def action_submit(self) -> None:
        if self.entry is None:
            options = self.query_one("#catalog-list", OptionList)
            if options.highlighted is not None:
                option = options.get_option_at_index(options.highlighted)
                entry = self.entries.get(option.id or "")
                if entry is not None:
                    self.run_worker(self.choose(entry))
            return
        if self._sending:
            return
        job = self._job()
        if job is not None:
            self._create(job)

    @db_work(group="form", exclusive=True, where="creating the experiment")
    async def _create(self, job: Job) -> None:
        self._sending = True
        self.query_one(".dialog-hint", Static).update("checking with the catalog…")
        try:
            exp_id, n_runs = await self.session.actions.create_experiment(job)
        except JobError as exc:
            by_param: dict[str, str] = {}
            general = []
            for problem in exc.problems:
                head, _, text = problem.partition(": ")
                if head.startswith("params."):
                    by_param[head.removeprefix("params.")] = text
                else:
                    general.append(problem)
            self.query_one(ParamForm).show_errors(by_param)
            self._message("; ".join(general) or "the catalog refused these values")
            return
        finally:
            self._sending = False
            self.query_one(".dialog-hint", Static).update("ctrl+s: check and queue    esc: cancel")
        self.notify(f"experiment #{exp_id} {job.name} queued: {n_runs} run(s)", title="new experiment")
        self.app.post_message(RefreshWanted())
        self.dismiss(exp_id)

    def action_cancel(self) -> None:
        self.dismiss(None)
