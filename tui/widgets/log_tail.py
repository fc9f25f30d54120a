"""The tail of a run's stderr or stdout (read in a worker thread by the screen)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine import detached_run


def tail(path: Path, lines: int = 200) -> str | None:
    """The last lines of a file, or None when it does not exist."""
    if not path.exists():
        return None
    return detached_run.tail(path, lines)


class LogTail(VerticalScroll):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._text = Static("", markup=False)
        self._shown: tuple[str, str] | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._text

    def show(self, title: str, content: str) -> None:
        if self._shown == (title, content):
            return
        at_end = self.scroll_y >= self.max_scroll_y - 1
        self._shown = (title, content)
        text = Text(title + "\n", style="bold")
        text.append(content or "(empty)", style="" if content else "dim")
        self._text.update(text)
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)
