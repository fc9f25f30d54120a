"""A yes/no question (e.g. before cancelling)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui import keys
from tui.screens.modal import LabModal
from tui.widgets.footer import LabFooter


class ConfirmScreen(LabModal[bool]):
    BINDINGS = keys.bindings(keys.CONFIRM)
    KEY_SCOPES = (keys.CONFIRM,)

    def __init__(self, question: str, detail: str = "", *, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.question, self.detail = question, detail
        self.keymap = keymap or {}  # the user's keys (tui/keys.py), shown in the hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            if self.detail:
                yield Static(self.detail, classes="dialog-text", markup=False)
            yield Static(f"{keys.display_keys(self._keys('confirm.yes'))}: yes    "
                         f"{keys.display_keys(self._keys('confirm.no'))}: no", classes="dialog-hint")
        yield LabFooter()

    def _keys(self, binding_id: str) -> str:
        return keys.keys_for(binding_id, self.keymap)

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)
