"""The agents' dialogue, live: one line block per message, coloured by role; a message that is
still streaming grows in place. Only new or changed messages are touched."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from contract import units
from db import Message, MessageKind
from tui.widgets.styling import ComponentStyles

ROLES = ("researcher", "architect", "coder", "validator", "lab")


class MessageView(Static):
    """One message."""

    def __init__(self, message: Message, text: Text) -> None:
        super().__init__(text, classes=f"role-{message.agent if message.agent in ROLES else 'other'}")
        self.message = message


class DialogueView(ComponentStyles, VerticalScroll):
    COMPONENT_CLASSES = {f"dialogue--{role}" for role in (*ROLES, "other")} | {
        "dialogue--meta", "dialogue--error", "dialogue--cursor"}

    def __init__(self, *, show_experiment: bool = True, show_time: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.show_experiment = show_experiment
        self.show_time = show_time
        self._views: dict[int, MessageView] = {}
        self._empty: Static | None = None
        self.empty_text = "No agent messages yet."

    def on_mount(self) -> None:
        self._empty = Static(self.empty_text, classes="dialogue-empty")
        self.mount(self._empty)

    def format(self, m: Message) -> Text:
        style = self.cstyle
        role = m.agent if m.agent in ROLES else "other"
        text = Text()
        if self.show_time:
            text.append(units.clock_time(m.created_at) + " ", style=style("dialogue--meta"))
        text.append(m.agent, style=style(f"dialogue--{role}"))
        if m.kind != MessageKind.SAY:
            text.append(f" {m.kind}", style=style("dialogue--error" if m.kind == MessageKind.ERROR else "dialogue--meta"))
        if self.show_experiment and m.experiment_id is not None:
            text.append(f" #{m.experiment_id}", style=style("dialogue--meta"))
        text.append(": ", style=style("dialogue--meta"))
        text.append(m.text.strip())
        if m.streaming:
            text.append("▌", style=style("dialogue--cursor"))
        return text

    def show(self, messages: list[Message]) -> None:
        """Show exactly these messages (oldest first), touching only what changed."""
        at_end = self.scroll_y >= self.max_scroll_y - 1
        wanted = {m.id for m in messages}
        for msg_id in [i for i in self._views if i not in wanted]:
            self._views.pop(msg_id).remove()
        new_views = []
        for m in messages:
            view = self._views.get(m.id)
            if view is None:
                view = MessageView(m, self.format(m))
                self._views[m.id] = view
                new_views.append(view)
            elif view.message != m:
                view.message = m
                view.update(self.format(m))
        if new_views:
            self.mount_all(new_views)
        if self._empty is not None:
            self._empty.display = not self._views
        if at_end and messages:  # follow the conversation unless the reader scrolled back
            self.call_after_refresh(self.scroll_end, animate=False)

    def clear_messages(self) -> None:
        for view in self._views.values():
            view.remove()
        self._views.clear()
        if self._empty is not None:
            self._empty.display = True
