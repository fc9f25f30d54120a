"""Workers whose failures all reach the app as `WorkerFailed` messages (tui/messages.py), which
its one error handler (tui/errors.py) classifies."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from textual import work
from textual.dom import DOMNode

from tui.messages import WorkerFailed

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def guarded(where: str | None = None) -> Callable[[F], F]:
    """Wrap a coroutine method so that any exception is posted to the app as `WorkerFailed`."""

    def decorate(fn: F) -> F:
        label = where or fn.__name__.strip("_").replace("_", " ")

        @functools.wraps(fn)
        async def wrapper(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(self, *args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not hasattr(self.app, "report_error"):  # not the control room (a bare test app)
                    raise
                self.app.post_message(WorkerFailed(label, exc))
                return None

        return wrapper  # type: ignore[return-value]

    return decorate


def db_work(*, group: str = "default", exclusive: bool = False, where: str | None = None) -> Callable[[F], Any]:
    """`@work` for database reads and writes: async (aiosqlite never blocks the loop), with
    errors reported in one place instead of ending the app."""

    def decorate(fn: F) -> Any:
        return work(guarded(where)(fn), group=group, exclusive=exclusive, exit_on_error=False)

    return decorate
