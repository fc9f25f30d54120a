"""No lab where we looked: offer to create it (never in read-only mode)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from contract.layout import LabDir
from tui import keys
from tui.screens.modal import LabModal
from tui.widgets.footer import LabFooter


class LabMissingScreen(LabModal[bool]):
    BINDINGS = keys.bindings(keys.CONFIRM)
    KEY_SCOPES = (keys.CONFIRM,)

    def __init__(self, lab: LabDir, readonly: bool) -> None:
        super().__init__()
        self.lab, self.readonly = lab, readonly

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"There is no lab at {self.lab.root}", classes="dialog-title", markup=False)
            if self.readonly:
                yield Static("Read-only mode cannot create one. Give the lab with --dir or $JOULELAB_DIR.",
                             classes="dialog-text", markup=False)
                yield Static("n/esc: leave", classes="dialog-hint")
            else:
                yield Static("Create it here (config.toml, the database, runs/) and start its engine?",
                             classes="dialog-text", markup=False)
                yield Static("y: create it    n/esc: leave", classes="dialog-hint")
        yield LabFooter()

    def action_yes(self) -> None:
        if not self.readonly:
            self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)
