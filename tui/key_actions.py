"""The control room's own keys and palette: back, help, start engine (offered only while the
engine is down), the command palette's entries (every key in force on the screen, and the
screen's extra commands), and the warning when two bindings share a key."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from textual.app import SystemCommand
from textual.screen import Screen

from tui import keys
from tui.message_handlers import MessageHandlers
from tui.screens.help import HelpScreen


class KeyActions(MessageHandlers):
    _clashes: frozenset[str] = frozenset()  # clashes already told

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start_engine":
            return self.engine_startable()
        if action == "back":
            return len(self.screen_stack) > 1
        return True

    async def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.session, self.screen))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for scope_name, scope in keys.in_force(screen):
            for key in scope:
                if key.id == "app.palette":
                    continue
                shown = keys.display_keys(keys.keys_for(key.id, self.session.settings.keymap))
                target = self if scope_name == "app" else screen
                yield SystemCommand(f"{key.description} [{shown}]", key.help or key.description,
                                    partial(self._run_from_palette, target, key.action))
        extra = getattr(screen, "extra_commands", None)
        if extra is not None:
            yield from extra()
        yield from super().get_system_commands(screen)

    def _run_from_palette(self, target: Any, action: str) -> None:
        self.call_later(target.run_action, action)

    def handle_bindings_clash(self, clashed: set[Any], node: Any) -> None:
        names = ", ".join(sorted(b.id or b.action for b in clashed))
        key = f"clash:{names}"
        if key not in self._clashes:
            self._clashes = self._clashes | {key}
            self.notify(f"two bindings share a key: {names}; change one in [keys]", severity="warning")
