"""The control room's notifications: always plain text, taken down when what they announce ends,
and the screen painted again where a toast was."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.notifications import Notification, Notify

TOAST_GONE_S = 0.1  # after a notification ends: its toast has been removed by then


class PlainNotifications(App[None]):
    def notify(self, message: str, *, title: str = "", severity: Any = "information",  # type: ignore[override]
               timeout: float | None = None, markup: bool = True) -> Notification:
        """Every notification is plain text: its message often carries an experiment name, an
        engine's answer or a model's words, any of which may hold brackets. Returns it, so that
        what it announces can take it down when it ends (`unnotify`)."""
        note = Notification(message, title, severity, self.NOTIFICATION_TIMEOUT if timeout is None else timeout,
                            markup=False)
        self.post_message(Notify(note))
        return note

    def unnotify(self, note: Notification | None) -> None:
        """Take a notification down now, if it is still shown."""
        if note is not None and note in self._notifications:
            self._unnotify(note)

    def _unnotify(self, notification: Notification, refresh: bool = True) -> None:
        """A notification goes (its time is up, or what it announced ended): once its toast is
        removed, the screen is painted again where it was. Textual's partial repaint after the
        removal can leave the toast's picture on the terminal (seen in tmux at 80x24 and 160x50,
        and in the browser: the sprint's notice stayed over the panels for minutes)."""
        super()._unnotify(notification, refresh=refresh)
        self.set_timer(TOAST_GONE_S, self._repaint_where_toasts_were)

    def _repaint_where_toasts_were(self) -> None:
        screen = self.screen
        screen.refresh(screen.region)
