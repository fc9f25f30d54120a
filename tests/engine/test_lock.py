"""The engine lock: its pid is readable the moment the lock is held, also while another process
takes and drops the lock as fast as it can; `lab engine start` never reports a placeholder pid."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from engine.lock import EngineAlreadyRunningError, EngineLock, holder
from tests.conftest import ROOT, LabHarness
from tests.timing import scaled

MIN_CYCLES = 300

FLIPPER = textwrap.dedent(f"""
    import os, sys
    sys.path.insert(0, {str(ROOT)!r})
    from pathlib import Path
    from engine.lock import EngineLock
    lock = EngineLock(Path(sys.argv[1]))
    stop = Path(sys.argv[2])
    print(os.getpid(), flush=True)
    sys.stdin.readline()
    cycles = 0
    while cycles < {MIN_CYCLES} or not stop.exists():
        lock.acquire()
        lock.release()
        cycles += 1
    print("done", cycles, flush=True)
""")


def test_a_racing_reader_never_sees_the_lock_without_its_pid(tmp_path: Path) -> None:
    """The flipper takes and drops the lock until the readers have caught it held (on a busy
    machine they may get no CPU for hundreds of cycles), then a little longer."""
    path, stop_file = tmp_path / "engine.lock", tmp_path / "stop"
    flipper = subprocess.Popen([sys.executable, "-c", FLIPPER, str(path), str(stop_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert flipper.stdout is not None and flipper.stdin is not None
    pid = int(flipper.stdout.readline())
    seen: set[int | None] = set()
    reads = [0]
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(holder(path))
            reads[0] += 1

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    flipper.stdin.write("go\n")
    flipper.stdin.flush()
    try:
        deadline = time.monotonic() + scaled(30)
        while pid not in seen and time.monotonic() < deadline:
            time.sleep(0.01)
        more = reads[0] + 2000  # keep racing after the first catch
        while reads[0] < more and time.monotonic() < deadline:
            time.sleep(0.01)
        stop_file.touch()
        assert flipper.stdout.readline().startswith("done")
        assert flipper.wait(timeout=scaled(30)) == 0
    finally:
        stop_file.touch()
        stop.set()
        for r in readers:
            r.join()
        flipper.kill()
    assert seen <= {None, pid}, f"a reader saw {seen - {None, pid}}"
    assert pid in seen, "the readers never caught the lock held (the race was not exercised)"


def test_the_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "engine.lock"
    first = EngineLock(path)
    first.acquire()
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            import sys; sys.path.insert(0, {str(ROOT)!r})
            from pathlib import Path
            from engine.lock import EngineLock, EngineAlreadyRunningError, holder
            print(holder(Path({str(path)!r})))
            try:
                EngineLock(Path({str(path)!r})).acquire()
            except EngineAlreadyRunningError as exc:
                print("refused", exc.pid)
        """)], capture_output=True, text=True, timeout=scaled(30))
        import os

        assert proc.stdout.split() == [str(os.getpid()), "refused", str(os.getpid())], proc.stderr
    finally:
        first.release()
    assert holder(path) is None and path.read_text() == ""
    again = EngineLock(path)
    again.acquire()
    again.release()
    assert isinstance(EngineAlreadyRunningError(path, None), RuntimeError)


def test_engine_start_reports_the_real_pid_under_a_racing_reader(lab: LabHarness) -> None:
    lab.dir.ensure()
    seen: set[int | None] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(holder(lab.dir.lock))

    reader = threading.Thread(target=read)
    reader.start()
    pids = []
    try:
        for _ in range(3):
            done = lab.lab("engine", "start", check=True, timeout=scaled(60))
            pid = int(done.stdout.split("pid ")[-1].rstrip(")\n"))
            assert pid > 0 and pid == lab.engine_pid(), done.stdout
            pids.append(pid)
            lab.lab("engine", "stop", check=True, timeout=scaled(60))
    finally:
        stop.set()
        reader.join()
    assert len(set(pids)) == 3
    assert all(p is None or p in pids for p in seen), f"a reader saw {seen}"
