"""Hostile generated programs, run the way the coder's code runs: each is made into an experiment by
the coder (`Coder._experiment`: its source under <lab>/generated, its sandbox limits in the
parameters), approved, and run by a real engine through `python -m agents.sandbox`. Each attack
fails inside the sandbox, its run is recorded failed with the reason, nothing it started outlives
it, and nothing outside its run directory changed: the home, the lab and the lab's code are hashed
before and after."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from agents.coder import Coder, GeneratedProgram
from agents.research_settings import load_settings, read_config
from agents.sandbox_isolation import probe
from agents.topic import Topic
from db import ExperimentState as E
from db import RunDefaults, Store
from tests.conftest import ROOT, LabHarness, open_lab
from tests.timing import scaled

HERE = probe()
needs_sandbox = pytest.mark.skipif(not HERE.works, reason=f"no working sandbox here: {HERE.why} "
                                                          "(scripts/system_packages.sh installs bubblewrap)")

SECRET = "sk-hostile-" + uuid.uuid4().hex
MARKER = "joulelab-hostile-" + uuid.uuid4().hex  # in the argv of every process a program leaves behind
LIMITS = "[llm.sandbox]\ncpu_s = 3\nmem_mb = 1024\ntimeout_s = 30\nprocesses = 32\noutput_mb = 24\ntmp_mb = 16\n"

HEADER = '''
import json, os, socket, subprocess, sys, time
T = json.loads({targets!r})
spec = json.load(open(sys.argv[2]))
def succeeded(**values):
    """Reached only when an attack worked: the run would then be recorded a success."""
    values.update(test_accuracy=0.9, energy_kwh=1e-6, seed=spec["seed"])
    with open(spec["events_path"], "a") as fh:
        fh.write(json.dumps({{"type": "result", "values": values, "t": time.time()}}) + "\\n")
'''

#: name -> (program body, what the recorded reason says: one of |-separated words; as root the program
#: runs under a user id of its own, so a read-only file may answer "Permission denied" first)
ATTACKS: dict[str, tuple[str, str]] = {
    "ssh_keys": ('os.makedirs(T["home"] + "/.ssh", exist_ok=True)\n'
                 'open(T["home"] + "/.ssh/authorized_keys", "a").write("ssh-ed25519 AAAA attacker\\n")\n'
                 'succeeded(done="keys")\n', "Read-only file system"),
    "ssh_private_key": ('succeeded(key=open(T["home"] + "/.ssh/id_ed25519").read())\n', "No such file or directory"),
    "lab_db": ('succeeded(db=open(T["lab"] + "/lab.db", "rb").read(100).hex())\n', "No such file or directory"),
    "key_from_env": ('key = os.environ.get("JOULELAB_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")\n'
                     'if not key:\n    raise SystemExit("no key in my environment")\n'
                     'succeeded(key=key)\n', "no key in my environment"),
    "key_from_proc": ('succeeded(env=open(f"/proc/{T[\'engine_pid\']}/environ", "rb").read().decode("latin-1"))\n',
                      "No such file or directory"),
    "llm_endpoint": ('socket.create_connection(("127.0.0.1", T["llm_port"]), timeout=5).close()\n'
                     'succeeded(reached="the endpoint")\n', "Connection refused"),
    "lab_code": ('open(T["code"], "a").write("\\nimport os; os.system(\'id\')\\n")\n'
                 'succeeded(edited=T["code"])\n', "No such file or directory"),
    "installed_packages": ('open(os.path.join(sys.prefix, "pyvenv.cfg"), "a").write("\\n")\n'
                           'succeeded(edited="the virtual environment")\n', "Read-only file system|Permission denied"),
    "symlink": ('os.symlink(T["home"] + "/.ssh/authorized_keys", "keys")\n'
                'open("keys", "a").write("ssh-ed25519 AAAA attacker\\n")\n'
                'succeeded(done="through a link")\n', "No such file or directory"),
    "dotdot": ('open(os.path.join(spec["output_dir"], "..", "..", "config.toml"), "a").write("[llm]\\n")\n'
               'succeeded(done="config")\n', "Read-only file system"),
    "fork_bomb": ('while True:\n'
                  '    if os.fork() == 0:\n'
                  '        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", T["marker"]])\n',
                  "Resource temporarily unavailable"),
    "allocate_10gb": ('x = bytearray(10 * 2**30)\nsucceeded(allocated=len(x))\n', "MemoryError"),
    "fill_disk": ('i = 0\nwhile True:\n'
                  '    with open(f"fill-{i}", "wb") as fh:\n        fh.write(os.urandom(2**20))\n    i += 1\n',
                  "it wrote more than 24 MiB"),
    "fill_tmp": ('with open("/tmp/fill", "wb") as fh:\n    while True:\n        fh.write(b"x" * 2**20)\n',
                 "No space left on device"),
    "spin": ("while True:\n    pass\n", "SIGXCPU: its CPU-time limit of 3 s"),
    "daemon": ('if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n'
               '        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", T["marker"]])\n'
               '    os._exit(0)\n'
               'raise SystemExit("left a daemon behind")\n', "left a daemon behind"),
    "stdout_1gb": ('chunk = b"x" * 2**20\nfor _ in range(1024):\n    sys.stdout.buffer.write(chunk)\n'
                   'succeeded(wrote="1 GB")\n', "it wrote more than 24 MiB"),
}


def tree_digest(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """sha256 of every file under root (links by their target), by relative path."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if str(rel_dir / d) not in skip)
        for name in filenames:
            path = Path(dirpath) / name
            rel = str(rel_dir / name)
            if rel in skip:
                continue
            out[rel] = (f"link:{os.readlink(path)}" if path.is_symlink()
                        else hashlib.sha256(path.read_bytes()).hexdigest())
    return out


#: what the engine itself writes in the lab while these runs go on (never a program)
ENGINE_WRITES = frozenset({"lab.db", "lab.db-wal", "lab.db-shm", "engine.lock", "engine.log", "crash.log", "runs",
                           "exp", ".git", "reports", "cache", "ROADMAP.md", "disk.notice"})


def code_digest() -> dict[str, str]:
    out = {}
    for room in ("science", "agents", "contract", "db", "engine", "records", "tui", "cli", "experiments"):
        out.update({f"{room}/{k}": v for k, v in tree_digest(ROOT / room).items() if k.endswith(".py")})
    venv = Path(sys.prefix)
    out["pyvenv.cfg"] = hashlib.sha256((venv / "pyvenv.cfg").read_bytes()).hexdigest() \
        if (venv / "pyvenv.cfg").exists() else "absent"
    return out


def leftovers() -> list[int]:
    """Processes anywhere on the machine whose arguments carry this test's marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if MARKER.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def _submit(lab: LabHarness, sources: dict[str, str]) -> dict[str, int]:
    settings = load_settings(read_config(lab.root))
    coder = Coder(cast(Any, None), cast(Any, None), settings, "fakeexp", lab.root)
    isolation = probe()
    store = await Store.open(lab.dir.db)
    ids = {}
    try:
        for name, source in sources.items():
            topic = Topic(kind="generated", catalog="generated", rationale=name, seeds=1,
                          hypothesis=f"hostile program {name}", research_question="does the sandbox hold?")
            new = coder._experiment(topic, GeneratedProgram.of({  # exactly what the coder makes of a model's answer
                "source": source, "explanation": name, "gain_phase": "training",
                "variants": [{"name": "baseline", "baseline": True}],
                "metrics": {"quality": "test_accuracy", "energy": "energy_kwh", "time": "train_time_s",
                            "size": "model_size_bytes"}}), isolation)
            ids[name] = await store.create_experiment(new, status=E.APPROVED,
                                                      run_defaults=RunDefaults(timeout_s=120, max_attempts=1))
    finally:
        await store.close()
    return ids


class Outcome:
    def __init__(self, lab: LabHarness, ids: dict[str, int], before: dict[str, Any], after: dict[str, Any],
                 left: list[int]) -> None:
        self.lab, self.ids, self.before, self.after, self.left = lab, ids, before, after, left


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    from tests.agents.support import FakeLLM

    root = tmp_path_factory.mktemp("hostile")
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA the-owner\n")
    (home / ".ssh" / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    llm = FakeLLM()
    with open_lab(root) as lab:
        lab.env.update(HOME=str(home), JOULELAB_LLM_API_KEY=SECRET, JOULELAB_LLM_BASE_URL=llm.url,
                       JOULELAB_LLM_MODEL="local")
        lab.write_config("[slots]\ncpu = 1\n[llm]\nallow_generated_code = true\n" + LIMITS)
        (lab.root / "canary.txt").write_text("the lab's own file\n")
        engine_pid = lab.start_engine()
        lab.lab("pause", check=True)  # nothing runs before every digest is taken
        targets = json.dumps({"home": str(home), "lab": str(lab.root), "engine_pid": engine_pid,
                              "llm_port": llm.server.server_address[1], "code": str(ROOT / "agents" / "sandbox.py"),
                              "marker": MARKER})
        sources = {name: HEADER.format(targets=targets) + body for name, (body, _) in ATTACKS.items()}
        ids = asyncio.run(_submit(lab, sources))

        def digests() -> dict[str, Any]:
            return {"home": tree_digest(home), "lab": tree_digest(lab.root, ENGINE_WRITES), "code": code_digest(),
                    "real_ssh": tree_digest(Path(os.path.expanduser("~root")) / ".ssh")}

        before = digests()
        lab.lab("resume", check=True)
        for exp_id in ids.values():
            lab.wait_experiment(exp_id, ("failed", "done", "cancelled"), timeout=240)
        left = leftovers()
        after = digests()
        try:
            yield Outcome(lab, ids, before, after, left)
        finally:
            llm.close()
            for pid in leftovers():
                os.kill(pid, 9)


def test_there_are_enough_hostile_programs() -> None:
    assert len(ATTACKS) >= 12


@needs_sandbox
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_hostile_program_fails_inside_the_sandbox(hostile: Outcome, name: str) -> None:
    lab, exp_id = hostile.lab, hostile.ids[name]
    (run,) = lab.run_rows(exp_id)
    assert run["status"] == "failed", (name, run["status"], run["error"])
    assert run["result"] is None
    assert any(why in (run["error"] or "") for why in ATTACKS[name][1].split("|")), (name, run["error"])
    run_dir = Path(run["run_dir"])
    events = (run_dir / "events.jsonl").read_text()
    assert "sandbox: bubblewrap" in events
    for path in run_dir.rglob("*"):  # it left no link out of its directory, nothing but plain files
        assert path.is_file() or path.is_dir(), path
        assert not path.is_symlink(), path
    shown = events + (run_dir / "stdout").read_text(errors="replace") + (run_dir / "stderr").read_text(errors="replace")
    assert SECRET not in shown and "SQLite format 3" not in shown and "PRIVATE KEY" not in shown
    assert lab.experiment(exp_id)["status"] == "failed"
    meta = json.loads(lab.experiment(exp_id)["metadata"])
    assert meta["generated"]["sandbox"] == "bubblewrap"


@needs_sandbox
def test_nothing_outside_the_run_directories_changed(hostile: Outcome) -> None:
    for part in ("home", "lab", "code", "real_ssh"):
        assert hostile.after[part] == hostile.before[part], part
    assert hostile.before["home"] and hostile.before["code"] and "canary.txt" in hostile.before["lab"]


@needs_sandbox
def test_nothing_a_program_started_outlives_its_run(hostile: Outcome) -> None:
    assert hostile.left == []


@needs_sandbox
def test_the_engine_still_runs_and_output_stopped_at_its_limit(hostile: Outcome) -> None:
    assert hostile.lab.engine_pid()
    stdout = (Path(hostile.lab.run_rows(hostile.ids["stdout_1gb"])[0]["run_dir"]) / "stdout").stat().st_size
    assert stdout <= 25 * 2**20  # the output limit (24 MB) stopped it, with at most a chunk more


def _unsandboxed_spec(tmp_path: Path, allow: bool) -> Path:
    source = "import json, sys, time\nspec = json.load(open(sys.argv[2]))\nprint('ran')\n"
    program = tmp_path / "program.py"
    program.write_text(source)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    spec = {"run_id": 1, "variant": "baseline", "seed": 0, "device": "cpu",
            "events_path": str(run_dir / "events.jsonl"), "output_dir": str(run_dir),
            "params": {"generated": {"path": str(program), "sha256": hashlib.sha256(source.encode()).hexdigest()},
                       "sandbox": {"cpu_s": 10, "timeout_s": 30, "allow_unsandboxed": allow}}}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    return run_dir


def _sandbox_without_bwrap(run_dir: Path) -> subprocess.CompletedProcess[str]:
    empty = run_dir.parent / "bin-without-bwrap"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": str(empty), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "agents.sandbox", "generated", "--spec", "spec.json"], cwd=run_dir,
                          env=env, capture_output=True, text=True, timeout=scaled(60))


def test_generated_code_is_refused_without_bubblewrap(tmp_path: Path) -> None:
    run_dir = _unsandboxed_spec(tmp_path, allow=False)
    done = _sandbox_without_bwrap(run_dir)
    assert done.returncode == 3 and "ran" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "generated code refused: bubblewrap (bwrap) is not installed" in lines[0]
    assert "apt-get install bubblewrap" in lines[0] and "allow_unsandboxed = true" in lines[0]
    assert "generated code refused" in (run_dir / "events.jsonl").read_text()


def test_unsandboxed_only_when_allowed_and_said_so(tmp_path: Path) -> None:
    run_dir = _unsandboxed_spec(tmp_path, allow=True)
    done = _sandbox_without_bwrap(run_dir)
    assert done.returncode == 0 and "ran" in done.stdout, done.stderr
    log = (run_dir / "events.jsonl").read_text()
    assert "running UNSANDBOXED" in log and "bubblewrap (bwrap) is not installed" in log
    assert not (run_dir / ".generated-program.py").exists()
