"""The browser view for real: `lab serve` (textual-serve) on 127.0.0.1, opened in headless
Chromium driven by selenium through Debian's chromedriver; keys are typed into the page's
terminal (xterm.js) and the dashboard's text is read back from the terminal's rows.

xterm.js draws with a canvas when it can; the page here is given no canvas contexts for the
terminal's layers, so xterm.js falls back to its DOM renderer, whose rows hold the text as the
user sees it. Skipped only where Chromium is not installed (CI installs it: .ci/run)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium is not installed (Debian: apt-get install chromium chromium-driver; .ci/run does it)")

SERVE_START_S = 60.0    # the server answers, and then the app shows its first frame, within this
KEY_ANSWER_S = 30.0     # a key's effect reaches the page within this

DOM_RENDERER = """
(() => {
  const real = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    const terminalLayer = [...this.classList].some((name) => name.startsWith("xterm-"));
    if (kind === "webgl2" || kind === "webgl" || terminalLayer) return null;
    return real.call(this, kind, ...rest);
  };
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(lab_root: Path, *extra: str) -> Iterator[str]:
    """`lab serve` on a free port of 127.0.0.1; its process group (server and apps) killed after."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "--dir", str(lab_root), "serve", "--port", str(port),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVE_START_S
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as page:
                    assert page.status == 200
                    break
            except OSError as exc:
                if proc.poll() is not None:
                    raise AssertionError(f"lab serve exited {proc.returncode}: {proc.stdout.read().decode()}") from exc
                assert time.monotonic() < deadline, "lab serve did not answer"
                time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def chromium(performance_log: bool = False) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="joulelab-chromium-")
    options = webdriver.ChromeOptions()
    if performance_log:  # the network's events, read by requested_urls
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER or ""))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DOM_RENDERER})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def terminal_text(driver: Any) -> str:
    return str(driver.execute_script(
        "const rows = document.querySelector('.xterm-rows'); return rows ? rows.innerText : '';"))


def wait_text(driver: Any, found: Callable[[str], bool], timeout: float, what: str) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = terminal_text(driver)
        if found(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; the page shows:\n{text}")


def press(driver: Any, *keys: str) -> None:
    """Keys typed into the terminal, as a user types them (xterm.js's input is its textarea)."""
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
    for key in keys:
        field.send_keys(key)


@needs_chromium
def test_the_control_room_in_headless_chromium(lab):
    from selenium.webdriver.common.keys import Keys

    with served(lab.root, "--readonly") as url, chromium() as driver:
        driver.get(url)
        text = wait_text(driver, lambda t: "prune-70" in t and "Dialogue" in t, SERVE_START_S,
                         "the dashboard in the page")
        assert "Queue" in text and "Ratings" in text and "READ-ONLY" in text, text
        assert "kd-small" in text and "int8-ptq" in text, "the fixture lab's experiments are listed"

        press(driver, "?")
        text = wait_text(driver, lambda t: "Keys · dashboard" in t, KEY_ANSWER_S, "the help screen")
        assert "lab.sprint" in text and "lab.research" in text, "help lists the team's keys with their ids"
        press(driver, Keys.ESCAPE)
        wait_text(driver, lambda t: "Keys · dashboard" not in t and "prune-70" in t, KEY_ANSWER_S,
                  "the dashboard again")
        wait_text(driver, lambda t: "? Help" in t and "s Sprint" in t, KEY_ANSWER_S, "the footer with its keys")

        press(driver, "p")
        text = wait_text(driver, lambda t: "70 % sparsity" in t, KEY_ANSWER_S, "the first proposal")
        assert "prune-70" in text
        press(driver, Keys.ESCAPE)
        # wait for the dashboard: an escape followed at once by a key reads as alt+key in a terminal
        wait_text(driver, lambda t: "70 % sparsity" not in t and "Dialogue" in t, KEY_ANSWER_S,
                  "the dashboard after the proposal")
        press(driver, "s")  # read-only: the sprint key is refused, and says so
        wait_text(driver, lambda t: "read-only mode: cannot ask the research team" in t, KEY_ANSWER_S,
                  "the read-only refusal")


def test_serve_refuses_a_non_loopback_address(lab):
    done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab.root), "serve", "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "--host 0.0.0.0 is not a loopback address" in line and "--allow-remote" in line

    from tui.serve import RemoteRefusedError, check_host

    for loopback in ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"):
        assert check_host(loopback, allow_remote=False) == loopback
    for remote in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1"):
        with pytest.raises(RemoteRefusedError):
            check_host(remote, allow_remote=False)
        assert check_host(remote, allow_remote=True) == remote, "told explicitly, it is allowed"


@contextlib.contextmanager
def tunnel(to_port: int) -> Iterator[int]:
    """A TCP forwarder on another port of 127.0.0.1 (as `ssh -L 9123:127.0.0.1:8000` is): every
    connection to it is relayed to `to_port`. Yields its port."""
    import selectors
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def relay(a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while not stop.is_set():
                for key, _ in sel.select(0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            pass
        finally:
            sel.close()
            a.close()
            b.close()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", to_port))
            threading.Thread(target=relay, args=(client, server), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked for (Chromium's network log): documents, scripts, styles, fonts,
    images, websockets."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


@needs_chromium
def test_the_page_works_through_a_tunnel_to_another_port_and_fetches_nothing_from_elsewhere(lab):
    """The page reached on another local port (a tunnel) loads its script, styles, font and
    websocket from where it was reached; no request leaves 127.0.0.1 (no web font from outside)."""
    from urllib.parse import urlsplit

    with served(lab.root, "--readonly") as url, tunnel(urlsplit(url).port or 0) as port:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert "googleapis" not in page and "127.0.0.1" not in page and "http" not in page.split("<body")[0], page[:800]
        with chromium(performance_log=True) as driver:
            driver.get(f"http://127.0.0.1:{port}/")
            text = wait_text(driver, lambda t: "prune-70" in t and "Dialogue" in t, SERVE_START_S,
                             "the dashboard through the tunnel")
            assert "READ-ONLY" in text
            urls = requested_urls(driver)
        network = [u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss", "ftp")]  # not chrome://
        hosts = {(urlsplit(u).scheme, urlsplit(u).hostname, urlsplit(u).port) for u in network}
        assert hosts and hosts <= {("http", "127.0.0.1", port), ("ws", "127.0.0.1", port)}, urls
        assert ("ws", "127.0.0.1", port) in hosts, "the websocket goes through the tunnel"
        assert any(u.endswith(".ttf") for u in urls), f"the font is served by the page itself: {urls}"
