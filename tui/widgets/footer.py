"""The footer: Textual's, recomposed only when the keys it shows really change (Textual
rebuilds it on every focus change or bindings refresh, which costs ~20 widgets each time)."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class LabFooter(Footer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._signature: tuple[Any, ...] | None = None

    def _current(self) -> tuple[Any, ...]:
        return tuple((key, b.description, b.action, enabled, b.key_display)
                     for key, (_, b, enabled, _tip) in self.screen.active_bindings.items() if b.show)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            signature = self._current()
            if signature != self._signature:
                self._signature = signature
                self.call_after_refresh(self.recompose)
