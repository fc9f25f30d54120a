"""Start-up: the first full frame (data shown) in under a second from process start, without
torch, transformers, peft or codecarbon ever imported; and `lab serve` binds to 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.timing import scaled
from tests.tui.support import FIXTURES, HERE, ROOT

HEAVY = ("torch", "transformers", "peft", "codecarbon")

SCRIPT = """
import json, sys, time
sys.path.insert(0, {here!r})
from pathlib import Path
from contract.layout import LabDir
from tui.app import ControlRoomApp
import tui_fixture_lab as f

app = ControlRoomApp(LabDir(Path({lab!r})), engine=f.FakeEngine(), start_engine=False)
out = {{}}

async def auto(pilot):
    await app.ready.wait()
    await pilot.pause()
    import os
    from tui.startup import process_age
    out["at"] = time.time()
    out["age_s"] = process_age()
    cpu = os.times()
    out["first_frame_cpu_s"] = cpu.user + cpu.system
    out["rows"] = len(app.screen.query_one("#queue")._rows)
    app.exit()

app.run(headless=True, size=(80, 24), auto_pilot=auto)
out["heavy"] = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps(out))
"""


def first_frame(lab_root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(FIXTURES)])}
    spawned = time.time()
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(here=str(HERE), lab=str(lab_root), heavy=HEAVY)],
                          capture_output=True, text=True, timeout=scaled(60), env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["first_frame_s"] = out.pop("at") - spawned  # from the spawn, as a person at the prompt sees it
    return out


def test_first_full_frame_under_a_second_without_heavy_imports(lab):
    """From the spawn of the process to its first frame with data, without a heavy import.

    A test holds no wall time (the neighbours on a shared 2-core machine are measured too):
    `benchmarks/tui_startup.py` measures the first frame in a real terminal for BENCHMARKS.md
    (under a second). Here the CPU time of the best of three starts guards against a gross
    regression only (importing torch alone costs ~1.9 s of CPU); its bound grows with the load."""
    results = [first_frame(lab.root) for _ in range(3)]
    assert all(r["heavy"] == [] for r in results), results
    assert all(r["rows"] >= 5 for r in results), "the frame shows the queue"
    assert min(r["first_frame_cpu_s"] for r in results) < max(scaled(1.8), 1.8), results


def test_the_lab_command_never_imports_heavy_modules():
    code = ("import sys; import cli.main, tui.app, tui.screens.dashboard, tui.screens.detail, "
            "tui.screens.approval, tui.screens.new_experiment, tui.screens.edit_params, tui.serve; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=scaled(60), cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_binds_to_localhost_only(lab):
    from tui.serve import build_server, command

    server = build_server(lab, 8123, readonly=True)
    assert server.host == "127.0.0.1" and server.port == 8123
    assert command(lab, True).endswith(f"--dir {lab.root} open --readonly")
    port = free_port()
    lab_cmd = [sys.executable, "-m", "cli", "--dir", str(lab.root), "serve", "--port", str(port), "--readonly"]
    proc = subprocess.Popen(lab_cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + scaled(20)
        page = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "textual" in page.lower() or "<html" in page.lower(), "the page is served"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM):
            listening = [c for c in __import__("psutil").Process(proc.pid).net_connections() if c.status == "LISTEN"]
            assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening), listening
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
