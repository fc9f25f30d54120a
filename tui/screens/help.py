"""`?`: every key of the screen below, with its binding id (for remapping) and what it does."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from tui import keys
from tui.session import Session
from tui.widgets.footer import LabFooter

REMAP = ("Remap a key by its id: a [keys] table in the lab's config.toml, or your own "
         "~/.config/joulelab/keymap.toml ($JOULELAB_KEYMAP), e.g.  \"approval.approve\" = \"y\"")


class HelpScreen(ModalScreen[None]):
    BINDINGS = keys.bindings([keys.ALL["app.back"]])
    KEY_SCOPES: tuple[list[keys.Key], ...] = ()

    def __init__(self, session: Session, below: Screen[Any]) -> None:
        super().__init__()
        self.session = session
        self.below = below

    def compose(self) -> ComposeResult:
        with Vertical(classes="help"):
            yield Static(f"Keys · {type(self.below).__name__.removesuffix('Screen').lower()}", classes="help-title")
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(REMAP, classes="help-remap", markup=False)
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.fill()  # at the screen's width; again once the table's own is known
        self.call_after_refresh(self.fill)

    def on_resize(self) -> None:
        self.call_after_refresh(self.fill)

    def rows(self) -> list[tuple[str, str, str, str]]:
        out = []
        for _scope_name, scope in keys.in_force(self.below):
            for key in scope:
                shown = keys.display_keys(keys.keys_for(key.id, self.session.settings.keymap))
                note = " (refused read-only)" if key.changes and self.session.readonly else ""
                out.append((shown, key.description, key.id, (key.help or key.description) + note))
        return out

    def fill(self) -> None:
        """The keys, each column as wide as its longest entry but the last, which takes the rest
        of the width and wraps at words (rows grow taller): nothing is cut at 80 columns."""
        table = self.query_one(DataTable)
        rows = self.rows()
        width = table.size.width or self.size.width or 80
        widths = [max(len(head), *(len(r[i]) for r in rows)) for i, head in enumerate(("key", "does", "id"))]
        gaps = 2 * 4 + 2  # the cells' padding and the scroll bar
        rest = max(16, width - sum(widths) - gaps)
        key = (width, tuple(rows))
        if getattr(self, "_filled", None) == key:
            return
        self._filled = key
        row = table.cursor_row
        table.clear(columns=True)
        for head, w in zip(("key", "does", "id"), widths):
            table.add_column(head, width=w)
        table.add_column("what it does", width=rest)
        for shown, does, key_id, what in rows:  # text, never markup
            text = Text(what)
            lines = len(text.wrap(self.app.console, rest))
            table.add_row(Text(shown, style="bold"), Text(does), Text(key_id, style="dim"), text, height=lines)
        table.move_cursor(row=min(row, table.row_count - 1))

    def action_back(self) -> None:
        self.dismiss(None)

