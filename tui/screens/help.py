"""`?`: every key of the screen below, with its binding id (for remapping) and what it does."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from tui import keys
from tui.widgets.footer import LabFooter

REMAP = ("Remap a key by its id: a [keys] table in the lab's config.toml, or your own "
         "~/.config/joulelab/keymap.toml ($JOULELAB_KEYMAP), e.g.  \"approval.approve\" = \"y\"")


class HelpScreen(ModalScreen[None]):
    BINDINGS = keys.bindings([keys.ALL["app.back"]])
    KEY_SCOPES: list[list[keys.Key]] = []

    def __init__(self, below: Screen[Any]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with Vertical(classes="help"):
            yield Static(f"Keys · {type(self.below).__name__.removesuffix('Screen').lower()}", classes="help-title")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(REMAP, classes="help-remap", markup=False)
        yield LabFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "does", "id", "what it does")
        app: Any = self.app
        for _scope_name, scope in app.screen_keys(self.below):
            for key in scope:
                shown = keys.display_keys(keys.keys_for(key.id, app.settings.keymap))
                note = " (refused read-only)" if key.changes and app.readonly else ""
                table.add_row(Text(shown, style="bold"), Text(key.description), Text(key.id, style="dim"),
                              Text((key.help or key.description) + note))  # text, never markup
        table.focus()

    def action_back(self) -> None:
        self.dismiss(None)

