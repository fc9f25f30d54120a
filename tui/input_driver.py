"""The terminal driver of the control room: Textual's Linux driver whose input thread sleeps until
something happens.

Textual's input thread waits for the terminal's input 0.1 s at a time, to see whether it should
stop and to time out a lone escape: ten wake-ups a second, each a `select` and a pass through
Python for the GIL, nothing read. With four runs streaming at 160x50 that thread took a tenth of
the control room's CPU (0.09 % of a core of 1.0 %, per-thread schedstat) for no input at all.
This driver's input thread waits until input arrives, until the parser's own timeout (an escape
pressed alone is delivered when it expires, as before, never later), or until the driver stops
it: stopping sets the driver's exit event, which also writes to a pipe the thread waits on.

Everything else is Textual's `LinuxDriver`: the input is read, decoded and parsed as its input
thread does (the same parser, the same messages). Where the parser has no `_timeout_time` (another
Textual) the thread waits 0.1 s at a time, as Textual's does.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import TYPE_CHECKING, Any

from textual._loop import loop_last
from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App

POLL_S = 0.1  # Textual's own wait, where the parser's timeout cannot be read
_NO_TIMEOUT = object()


class WakingEvent(threading.Event):
    """An event that, when set, also wakes whoever waits on the read end of `pipe_w`'s pipe."""

    def __init__(self, pipe_w: int) -> None:
        super().__init__()
        self.pipe_w = pipe_w  # -1 once the pipe is closed

    def set(self) -> None:
        super().set()
        if self.pipe_w >= 0:
            with contextlib.suppress(OSError):  # full: already woken
                os.write(self.pipe_w, b"x")


def input_wait(parser: Any) -> float | None:
    """How long the input thread may sleep: until the parser's pending timeout (a lone escape),
    forever when none is pending, Textual's 0.1 s when the parser does not say."""
    due = getattr(parser, "_timeout_time", _NO_TIMEOUT)
    if due is _NO_TIMEOUT:
        return POLL_S
    if due is None:
        return None
    return max(0.0, float(due) - get_time())  # type: ignore[arg-type]


class QuietLinuxDriver(LinuxDriver):
    """Textual's Linux driver with an input thread that wakes only for input, the parser's timeout
    or the driver stopping it."""

    def __init__(self, app: App[Any], *, debug: bool = False, mouse: bool = True,
                 size: tuple[int, int] | None = None) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._exit = self.exit_event = WakingEvent(self._wake_w)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._wake_r, 64):
                pass

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events (Textual's `LinuxDriver.run_input_thread`, waiting as
        `input_wait` says instead of 0.1 s at a time)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)

        fileno = self.fileno
        event_read = selectors.EVENT_READ
        parser = XTermParser(self._debug)
        feed = parser.feed
        tick = parser.tick
        decode = getincrementaldecoder("utf-8")().decode

        def process_selector_events(selector_events: list[tuple[selectors.SelectorKey, int]],
                                    final: bool = False) -> None:
            events = [(key, mask) for key, mask in selector_events if key.fd == fileno]
            if len(events) != len(selector_events):
                self._drain_wake()
            for last, (_key, mask) in loop_last(events):
                if mask & event_read:
                    unicode_data = decode(os.read(fileno, 1024 * 4), final=final and last)
                    if not unicode_data:  # this can occur if stdin is piped
                        break
                    for event in feed(unicode_data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(input_wait(parser)))
            selector.unregister(self.fileno)
            selector.unregister(self._wake_r)
            process_selector_events(selector.select(POLL_S), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass

    def close(self) -> None:
        super().close()
        self._exit.pipe_w = -1
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def quiet(driver: type[Driver]) -> type[Driver]:
    """This module's driver in place of Textual's Linux driver; any other driver as it is."""
    return QuietLinuxDriver if driver is LinuxDriver else driver
