"""Edit a waiting proposal's parameters: each field is checked against the catalog's type and
range as you submit, the problem shown under it; the engine checks again and its refusal is
shown the same way."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from contract import requests as rq
from contract.catalog_answer import CatalogEntry
from contract.limits import MAX_SEEDS, MIN_SEEDS, seeds_problem
from db import Experiment
from tui import keys
from tui.params import changed, split_errors, validate
from tui.screens.modal import LabModal
from tui.session import Session
from tui.widgets.footer import LabFooter
from tui.widgets.param_form import ParamForm
from tui.workers import db_work


class EditParamsScreen(LabModal[bool]):
    BINDINGS = keys.bindings(keys.FORM)
    KEY_SCOPES = (keys.FORM,)

    def __init__(self, session: Session, experiment: Experiment) -> None:
        super().__init__()
        self.session = session
        self.experiment = experiment
        self.entry: CatalogEntry | None = None
        self._sending = False

    def compose(self) -> ComposeResult:
        exp = self.experiment
        with Vertical(classes="dialog form-dialog"):
            yield Static(f"Edit proposal #{exp.id} {exp.name} ({exp.catalog})", classes="dialog-title",
                         markup=False)
            with Horizontal(classes="form-row"):
                yield Label("seeds ", classes="form-label")
                yield Input(str(exp.seeds), id="seeds", classes="form-short")
            yield Static("", id="form-message", classes="dialog-error", markup=False)
            yield Static("reading the catalog…", id="form-loading", classes="dialog-text")
            yield Static("ctrl+s: check and save    esc: cancel", classes="dialog-hint")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one("#form-message").display = False
        self.load_entry()

    @db_work(group="form", where="reading the catalog")
    async def load_entry(self) -> None:
        catalog = await self.session.catalog()
        import asyncio

        self.entry = entry = await asyncio.to_thread(catalog.get, self.experiment.catalog)
        form = ParamForm(entry, dict(self.experiment.params), id="form")
        await self.query_one(".form-dialog").mount(form, before=self.query_one("#form-message"))
        self.query_one("#form-loading").remove()
        inputs = form.query(Input)
        if inputs:
            inputs.first().focus()

    def _message(self, text: str | None) -> None:
        message = self.query_one("#form-message", Static)
        message.update(f"✗ {text}" if text else "")
        message.display = bool(text)

    def action_submit(self) -> None:
        if self.entry is None or self._sending:
            return
        form = self.query_one(ParamForm)
        values, problems = validate(self.entry, form.texts())
        seeds_text = self.query_one("#seeds", Input).value.strip()
        seeds = int(seeds_text) if seeds_text.isdigit() else None
        form.show_errors(problems)
        if seeds_problem(seeds):
            self._message(f"seeds must be a whole number from {MIN_SEEDS} to {MAX_SEEDS}")
            return
        if problems:
            self._message(f"{len(problems)} value(s) to fix")
            return
        self._message(None)
        changes = changed({**self.entry.defaults(), **self.experiment.params}, values)
        if not changes and seeds == self.experiment.seeds:
            self.notify("nothing changed")
            self.dismiss(False)
            return
        self._send(rq.Edit(self.experiment.id, changes, seeds if seeds != self.experiment.seeds else None))

    @db_work(group="form", exclusive=True, where="editing the proposal")
    async def _send(self, request: rq.Edit) -> None:
        exp_id = request.exp_id
        self._sending = True
        try:
            req_id = await self.session.actions.request(request, what=f"edit #{exp_id}", notify=False)
            if not self.session.status.engine.running:
                self.dismiss(True)
                return
            self._message(None)
            self.query_one(".dialog-hint", Static).update("checking with the engine…")
            answer = await self.session.actions.answer(req_id)
            self.query_one(".dialog-hint", Static).update("ctrl+s: check and save    esc: cancel")
            if answer.ok:
                self.notify(answer.message, title=f"edit #{exp_id}")
                self.dismiss(True)
                return
            by_param = split_errors(answer.message)
            general = by_param.pop(None, None)
            self.query_one(ParamForm).show_errors({k: v for k, v in by_param.items() if k})
            self._message(general or "the engine refused these values")
        finally:
            self._sending = False

    def action_cancel(self) -> None:
        self.dismiss(False)
