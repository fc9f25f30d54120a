"""A one-line question (a reason for a rejection, a priority), checked before it is accepted."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui import keys
from tui.screens.modal import LabModal
from tui.widgets.footer import LabFooter


class PromptScreen(LabModal[str | None]):
    BINDINGS = keys.bindings(keys.FORM)
    KEY_SCOPES = (keys.FORM,)

    def __init__(self, title: str, hint: str = "", value: str = "",
                 check: Callable[[str], str | None] | None = None, placeholder: str = "") -> None:
        super().__init__()
        self.title_text, self.hint, self.value = title, hint, value
        self.check = check
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            if self.hint:
                yield Static(self.hint, classes="dialog-text", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", classes="dialog-error", id="prompt-error", markup=False)
            yield Static("enter: ok    esc: cancel", classes="dialog-hint")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one("#prompt-error").display = False
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        text = self.query_one(Input).value.strip()
        problem = self.check(text) if self.check is not None else None
        error = self.query_one("#prompt-error", Static)
        if problem:
            error.update(f"✗ {problem}")
            error.display = True
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
