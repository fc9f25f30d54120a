"""The control room's terminal driver: its input thread reads and parses the terminal's input as
Textual's does, delivers a lone escape when the parser's timeout expires, stops when asked, and
does not wake while nothing happens (Textual's woke ten times a second)."""

from __future__ import annotations

import os
import pty
import selectors
import signal
import threading
import time
import tty
from typing import Any

from textual import events
from textual.drivers.linux_driver import LinuxDriver

from tests.timing import scaled
from tui.input_driver import POLL_S, QuietLinuxDriver, input_wait, quiet


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + scaled(5)
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_the_wait_follows_the_parsers_timeout():
    class Parser:
        _timeout_time: float | None = None

    parser = Parser()
    assert input_wait(parser) is None  # nothing pending: sleep until input
    parser._timeout_time = 0.0
    assert input_wait(parser) == 0.0  # overdue: at once
    assert input_wait(object()) == POLL_S  # a parser that does not say: Textual's own wait


def test_only_textuals_linux_driver_is_replaced():
    assert quiet(LinuxDriver) is QuietLinuxDriver
    from textual.drivers.headless_driver import HeadlessDriver

    assert quiet(HeadlessDriver) is HeadlessDriver


async def test_the_input_thread_reads_keys_times_out_a_lone_escape_stops_when_asked_and_sleeps_meanwhile(
        monkeypatch):
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTSTP, signal.SIGCONT)}
    master, slave = pty.openpty()
    tty.setraw(slave)  # keys as typed, not lines
    selects = []
    select = selectors.SelectSelector.select

    def counted(self: Any, timeout: float | None = None) -> Any:
        selects.append(timeout)
        return select(self, timeout)

    monkeypatch.setattr(selectors.SelectSelector, "select", counted)
    driver = QuietLinuxDriver(object())  # type: ignore[arg-type]
    try:
        driver.fileno = slave
        got: list[Any] = []
        driver.process_message = got.append  # type: ignore[method-assign]
        thread = threading.Thread(target=driver.run_input_thread, daemon=True)
        thread.start()
        os.write(master, b"ab")
        wait_for(lambda: [e.key for e in got if isinstance(e, events.Key)] == ["a", "b"], "the keys a and b")
        before = len(selects)
        time.sleep(0.5)  # nothing typed: Textual's thread woke 5 times meanwhile
        assert len(selects) - before <= 1, selects
        os.write(master, b"\x1b")  # a lone escape: the parser waits for more, then times out
        wait_for(lambda: any(isinstance(e, events.Key) and e.key == "escape" for e in got), "the escape key")
        assert any(t is not None and t > 0 for t in selects), "it slept until the parser's timeout"
        driver.exit_event.set()
        thread.join(scaled(5))
        assert not thread.is_alive(), "the input thread stops when the exit event is set"
    finally:
        driver.close()
        os.close(master)
        os.close(slave)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
