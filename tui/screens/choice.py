"""Pick one of a few options (the autonomy level)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui import keys
from tui.screens.modal import LabModal
from tui.widgets.footer import LabFooter


class ChoiceScreen(LabModal[str | None]):
    BINDINGS = keys.bindings(keys.CHOICE)
    KEY_SCOPES = (keys.CHOICE,)

    def __init__(self, title: str, options: list[tuple[str, str]], current: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield OptionList(*[Option(("● " if key == self.current else "  ") + label, id=key)
                               for key, label in self.options], id="choices")
            yield Static("enter: choose    esc: cancel", classes="dialog-hint")
        yield LabFooter()

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        choices.focus()
        for i, (key, _) in enumerate(self.options):
            if key == self.current:
                choices.highlighted = i

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self) -> None:
        choices = self.query_one(OptionList)
        if choices.highlighted is not None:
            self.dismiss(self.options[choices.highlighted][0])

    def action_cancel(self) -> None:
        self.dismiss(None)
