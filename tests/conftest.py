"""Shared fixtures: a temporary lab wired to the fast stand-in experiment module, a real engine
subprocess, the real `lab` command, and helpers to wait for the database to change."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from experiments.worker import CORE_PRELOAD
from tests import warmruns
from tests.procs import wait_ended
from tests.timing import SCALE, scaled

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


#: the [executor] section of a lab whose runs are image or tabular entries only: its engine's warm
#: worker preloads the core of the harness, not the language-model stack, which none of its runs
#: imports (~2 CPU s of every such engine's start, experiments/worker.py). The warm-worker tests,
#: and every lab that runs a language-model, fine-tuning or deployment entry, keep the default.
IMAGE_ONLY_WORKER = "\n[executor]\nwarm_preload = " + json.dumps(list(CORE_PRELOAD)) + "\n"


#: how a harness starts its processes: the command as given, or inside a namespace (tests/netns.py)
Wrap = Callable[[Sequence[str]], list[str]]


def as_is(argv: Sequence[str]) -> list[str]:
    return list(argv)


class LabHarness:
    """A lab directory plus the environment its processes run in; `wrap` places every `lab`
    process (and so the engine it starts) where the test wants it, e.g. in a loopback-only
    network namespace."""

    def __init__(self, root: Path, env: dict[str, str], wrap: Wrap = as_is) -> None:
        from contract.layout import LabDir

        self.root = root
        self.env = env
        self.dir = LabDir(root)
        self.wrap = wrap

    def write_config(self, text: str) -> None:
        self.dir.ensure()
        self.dir.config.write_text(text)

    def lab(self, *args: str, timeout: float = 60, check: bool = False, input: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        """The real `lab` command, as a user would run it: forked from this test process's `lab`
        worker, which imported the commands once (tests/warmruns.py), or a fresh interpreter
        where the test places it (a namespace) or gives it input. Forked, it starts in an empty
        folder of its own, its input is /dev/null and it leads its own session; its arguments,
        environment, output and exit code are the cold command's."""
        argv = ["cli", "--dir", str(self.root), *args]
        forks = warmruns.lab_worker(self.env) if self.wrap is as_is and input is None else None
        if forks is not None:
            done = forks.run(argv, None, self.env, scaled(timeout))
        else:
            done = subprocess.run(self.wrap([sys.executable, "-m", *argv]), env=self.env, capture_output=True,
                                  text=True, timeout=scaled(timeout), input=input)
        if check and done.returncode != 0:
            raise AssertionError(f"lab {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def start_engine(self) -> int:
        done = self.lab("engine", "start", check=True)
        return int(done.stdout.split("pid ")[-1].rstrip(")\n"))

    def engine_pid(self) -> int | None:
        from engine.control import engine_pid

        return engine_pid(self.dir)

    def stop_engine(self) -> None:
        """Stop the engine, or kill it when it does not stop (teardown: never raises on what a
        killed process left behind, e.g. a lock file of a dead engine; an engine a test left
        stopped with SIGSTOP is let go first, or it could not hear the SIGTERM)."""
        from engine.control import stop

        with contextlib.suppress(Exception):
            pid = self.engine_pid()
            if pid and pid > 0:
                os.kill(pid, signal.SIGCONT)
        try:
            stop(self.dir, wait_s=scaled(60))  # returns once it stopped: a loaded machine needs longer
        except Exception:
            with contextlib.suppress(Exception):
                pid = self.engine_pid()
                if pid and pid > 0:
                    os.kill(pid, signal.SIGKILL)

    def kill_engine(self) -> None:
        """Teardown: the engine and every process it started, killed at once. The test is over,
        so what the engine still had in flight (an experiment's analysis, report and commit, for
        which a stop waits up to its 10 s grace, engine/daemon.py) is nobody's to wait for; a
        test of the engine's own stop calls `stop_engine`. Never raises: an engine already gone,
        or one the test left stopped (SIGSTOP), is killed all the same."""
        import psutil

        with contextlib.suppress(Exception):
            pid = self.engine_pid()
            if not pid or pid <= 0:
                return
            engine = psutil.Process(pid)
            family = [engine, *engine.children(recursive=True)]
            for proc in family:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            wait_ended(family, scaled(10))

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read the database directly (a test's independent view of what was committed)."""
        if not self.dir.db.exists():
            return []
        try:
            return self._read(sql, args, "ro")
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc):
                return self._nothing_yet(exc)
        # an engine killed with -9 left its write-ahead log to recover, which a read-only
        # connection may not do: the first reader recovers it (still only reading rows)
        try:
            return self._read(sql, args, "rw")
        except sqlite3.OperationalError as exc:
            return self._nothing_yet(exc)

    @staticmethod
    def _nothing_yet(exc: sqlite3.OperationalError) -> list[dict[str, Any]]:
        """A database whose schema is not there yet (an engine is creating it right now, on
        either path: read-only or the read-write recovery) has nothing committed; any other
        error is the test's to see."""
        if "no such table" in str(exc):
            return []
        raise exc

    def _read(self, sql: str, args: tuple[Any, ...], mode: str) -> list[dict[str, Any]]:
        conn = sqlite3.connect(f"file:{self.dir.db}?mode={mode}", uri=True, timeout=scaled(10))
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, args).fetchall()]
        finally:
            conn.close()

    def run_rows(self, exp_id: int | None = None) -> list[dict[str, Any]]:
        if exp_id is None:
            return self.query("SELECT * FROM runs ORDER BY id")
        return self.query("SELECT * FROM runs WHERE experiment_id = ? ORDER BY id", (exp_id,))

    def experiment(self, exp_id: int) -> dict[str, Any]:
        rows = self.query("SELECT * FROM experiments WHERE id = ?", (exp_id,))
        assert rows, f"no experiment {exp_id}"
        return rows[0]

    def metric_lines(self, run_id: int) -> int:
        """The metric events a run has written whole into its events file, ingested or not."""
        from contract.runfiles import EVENTS

        path = self.dir.run_dir(run_id) / EVENTS
        lines = path.read_text().split("\n")[:-1] if path.exists() else []
        return sum(1 for line in lines if json.loads(line)["type"] == "metric")

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
        """Poll `predicate` until it is true; `timeout` is scaled (tests/timing.py)."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {scaled(timeout):g} s waiting for {what}")

    def wait_experiment(self, exp_id: int, statuses: tuple[str, ...] = ("done", "failed", "cancelled"),
                        timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(lambda: (e := self.experiment(exp_id))["status"] in statuses and e,
                             timeout, f"experiment {exp_id} to be {'/'.join(statuses)}")

    def submit(self, experiment: str = "fake", *params: str, seeds: int = 1, extra: tuple[str, ...] = ()) -> int:
        args = ["run", experiment, "--seeds", str(seeds), "--json", *extra]
        for p in params:
            args += ["-p", p]
        done = self.lab(*args, check=True)
        return int(json.loads(done.stdout)["experiment_id"])

    def kill_runs(self) -> None:
        """Kill every run process group still alive (teardown), whatever state a killed engine
        left: the runs the database recorded when it can be read at all (a database half made, a
        write-ahead log to recover, a lock held by a dying process all read as nothing here),
        and every process working in the lab's folder (a run whose pid never reached the
        database; runs work in their run folder)."""
        groups: set[int] = set()
        with contextlib.suppress(sqlite3.Error):
            groups |= {int(row["pid"]) for row in self.query("SELECT pid FROM runs WHERE pid IS NOT NULL")}
        for pid in self._working_here():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                groups.add(pid)
        groups.discard(os.getpgrp())
        for group in groups:  # a run leads its own process group: its children go with it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)

    def _working_here(self) -> set[int]:
        import psutil

        inside = str(self.root.resolve()) + os.sep
        found = set()
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if proc.pid != os.getpid() and (proc.cwd() + os.sep).startswith(inside):
                    found.add(proc.pid)
        return found


#: the test files that take longest, slowest first (every file over 2 s in `--durations=0` of a quiet
#: suite, BENCHMARKS.md): `make test`'s two processes take whole files from one queue, longest
#: first, so both end within a short file of each other instead of one still running a long file
#: while the other has nothing left. A file missing here only runs later; nothing else changes.
SLOWEST_FILES = (
    "tests/records/test_publish.py", "tests/engine/test_ray_executor.py",
    "tests/experiments/test_lm_pipeline_runs.py", "tests/cli/test_published_jobs.py",
    "tests/experiments/test_exp_runs.py", "tests/engine/test_warm_worker.py", "tests/cli/test_commands.py",
    "tests/agents/test_agents_sprint.py", "tests/tui/test_tui_flows.py", "tests/experiments/test_deploy_engine.py",
    "tests/records/test_reproduce_and_paper.py", "tests/engine/test_limits_and_requests.py",
    "tests/engine/test_runs_end_to_end.py", "tests/tui/test_tui_markup.py", "tests/agents/test_sandbox_hostile.py",
    "tests/cli/test_job_files.py", "tests/records/test_snapshots.py", "tests/agents/test_agents_llm_failures.py",
    "tests/experiments/test_lm_runs.py", "tests/records/test_git_record.py", "tests/engine/test_full_disk.py",
    "tests/records/test_genealogy_and_export.py", "tests/records/test_reports.py",
    "tests/experiments/test_lm_engine.py", "tests/agents/test_agents_cli.py", "tests/agents/test_agents_team_real.py",
    "tests/experiments/test_exp_engine.py", "tests/engine/test_crash_safety.py",
    "tests/agents/test_agents_generated.py", "tests/agents/test_agents_rating_contract.py",
    "tests/records/test_quantities_everywhere.py", "tests/records/test_config_record.py",
    "tests/fuzz/test_fuzz_inputs.py", "tests/tui/test_tui_browser.py", "tests/agents/test_agents_llm_setup.py",
    "tests/tui/test_tui_team.py", "tests/experiments/test_exp_controls.py", "tests/tui/test_tui_snapshots.py",
    "tests/experiments/test_lm_deploy_runs.py", "tests/tui/test_tui_tmux.py", "tests/agents/test_agents_llm.py",
    "tests/records/test_tracker.py", "tests/experiments/test_zoo.py", "tests/records/test_tensorboard_export.py",
    "tests/experiments/test_lm_pipeline_engine.py", "tests/experiments/test_exp_cli.py",
    "tests/experiments/test_training_methods_engine.py", "tests/records/test_wandb_export.py",
    "tests/tui/test_tui_startup.py", "tests/science/test_deliverables.py", "tests/engine/test_lock.py",
    "tests/science/test_interval_coverage.py", "tests/agents/test_agents_openai_sprint.py",
    "tests/tui/test_tui_roadmap.py", "tests/experiments/test_deploy_formats.py", "tests/agents/test_agents_claims.py",
    "tests/experiments/test_lm_bases.py", "tests/tui/test_tui_llm_status.py", "tests/tui/test_tui_units.py",
    "tests/contract/test_units.py", "tests/test_code_shape.py",
)
#: the files that run after every other: the lint file's mypy test reads a mypy started with the
#: session (tests/earlymypy.py), which has had the whole suite to finish by then
LAST_FILES = ("tests/test_lint.py",)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # once per session: the controller, or the only process
        _compile_sources()
    if getattr(config.option, "dist", "no") == "loadfile":
        # files go out in the order collected (below), not xdist's "most tests first"
        config.option.loadscopereorder = False


def _compile_sources() -> None:
    """Byte-compile the lab's own modules once, before any test process starts. Every `lab`
    command, engine, worker and run the tests start is a fresh interpreter; where bytecode is not
    written (PYTHONDONTWRITEBYTECODE=1, as on the machines the suite is measured on) each would
    compile the ~400 modules it imports from source again: 0.10 CPU s of a `lab` command's 0.32,
    0.09 of an engine's 0.36. Compiled files are only read, and only while their source is
    unchanged (Python checks each one's source time and size), so a stale one is never used."""
    import compileall

    for package in sorted(p for p in ROOT.iterdir() if (p / "__init__.py").is_file() or p.name == "tests"):
        compileall.compile_dir(package, quiet=2)  # (a file that does not compile is the tests' to report)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _scale_timeouts(items)
    _skip_gpu_tests_without_a_gpu(items)
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    rank |= {name: len(SLOWEST_FILES) + 1 + i for i, name in enumerate(LAST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(SLOWEST_FILES)))  # stable: files stay whole


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _one_torch_thread()


def _one_torch_thread() -> None:
    """torch in a test process computes on one thread. Its default, a thread per core, has two
    test processes (and the engines and runs they start) ask for twice the cores there are: its
    threads then spin at each barrier waiting for one another, and a tiny model's work takes ten
    times as long (AWQ on a 2-layer Llama at load 10: 30 s and 6.7 CPU s on 2 threads, 3 s and
    0.3 CPU s on one). The runs the tests start get their threads from the engine or their own
    environment (tests/experiments/helpers.py), as before; torch is not imported here for it."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests import earlymypy

    warmruns.close()  # this test process's warm workers, if a test started one
    earlymypy.stop(_early_mypy.get("proc"), interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)


#: the mypy this test process started for the session, if it was the first (tests/earlymypy.py)
_early_mypy: dict[str, Any] = {}


@pytest.fixture(scope="session", autouse=True)
def early_mypy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mypy's folder for this run, started by the first test of the first test process when the
    session holds the mypy test (tests/earlymypy.py)."""
    from tests import earlymypy

    where = earlymypy.folder(tmp_path_factory)
    if earlymypy.wanted(request.session.items):
        _early_mypy["proc"] = earlymypy.start(where)
    return where


def _scale_timeouts(items: list[pytest.Item]) -> None:
    """pytest-timeout's limit (pyproject `timeout`, or a test's own mark) scaled like every other."""
    if SCALE == 1.0:
        return
    for item in items:
        mark = item.get_closest_marker("timeout")
        seconds = mark.args[0] if mark and mark.args else item.config.getini("timeout")
        item.add_marker(pytest.mark.timeout(float(seconds or 300) * SCALE))


def make_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["JOULELAB_EXPERIMENTS_MODULE"] = "fakeexp"
    env["JOULELAB_CACHE"] = str(tmp_path / "cache")
    env.pop("JOULELAB_DIR", None)
    return env


@contextlib.contextmanager
def open_lab(root: Path, wrap: Wrap = as_is, harness_type: type[LabHarness] = LabHarness) -> Iterator[LabHarness]:
    """A lab in `root`; the stand-in experiments; the engine, what it started and the runs killed
    at the end."""
    env = make_env(root)
    with pytest.MonkeyPatch.context() as mp:
        for key in ("PYTHONPATH", "JOULELAB_EXPERIMENTS_MODULE", "JOULELAB_CACHE"):
            mp.setenv(key, env[key])
        mp.syspath_prepend(str(FIXTURES))
        harness = harness_type(root / "lab", env, wrap)
        try:
            yield harness
        finally:
            try:
                harness.kill_engine()
            finally:
                harness.kill_runs()


def _skip_gpu_tests_without_a_gpu(items: list[pytest.Item]) -> None:
    """Tests marked `gpu` run only where a GPU is."""
    marked = [item for item in items if item.get_closest_marker("gpu")]
    if not marked:
        return
    from engine.gpus import Gpus

    gpus = Gpus()
    count = gpus.count()
    gpus.close()
    if count == 0:
        for item in marked:
            item.add_marker(pytest.mark.skip(reason="needs a GPU; none here"))


@pytest.fixture(scope="session")
def lm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The language-model entries' cache, one for the whole session: the base model and tokenizer
    the first test pre-trains at smoke are reused by every later one, in either test process
    (the cache builds each folder once under a lock, experiments/lm/cache.py: a test that needs
    one the other process is building waits for it), instead of being pre-trained again in each
    module or process. A module that checks the pre-training itself (a cache miss) defines its
    own `lm_cache`."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each test process's own
    shared = base / "lmcache-session"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny local causal LM of the fine-tune tests (tests/fixtures/tiny_lm.py), made once per
    test process (a child process importing torch and transformers) and only read by the runs."""
    from tests.fixtures.tiny_lm import made

    return made(tmp_path_factory.mktemp("models") / "gpt2-tiny")


@pytest.fixture
def lab_env(tmp_path: Path) -> dict[str, str]:
    return make_env(tmp_path)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabHarness]:
    with open_lab(tmp_path) as harness:
        yield harness
