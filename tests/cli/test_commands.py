"""The `lab` command line as a user meets it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import psutil

from db import NewExperiment, Store
from science.catalog import Catalog
from tests.conftest import ROOT, LabHarness
from tests.timing import scaled


def test_list_shows_parameters_with_defaults_and_ranges(lab: LabHarness) -> None:
    done = lab.lab("list", check=True)
    assert "-p steps=5  [0..1e+06]  metric points" in done.stdout
    data = json.loads(lab.lab("list", "--json", check=True).stdout)
    assert {e["name"] for e in data} == {"fake", "dag"}


def test_run_wait_status_show_queue_and_logs(lab: LabHarness) -> None:
    done = lab.lab("run", "fake", "-p", "steps=3", "--wait", check=True)
    assert "run 1 baseline seed 0: succeeded" in done.stdout and "experiment 1 done" in done.stdout
    status = json.loads(lab.lab("status", "--json", check=True).stdout)
    assert status["engine"]["running"] and status["experiments"] == {"done": 1}
    assert "energy:" in lab.lab("status", check=True).stdout
    show = lab.lab("show", "1", check=True).stdout
    assert "status done" in show and "test_accuracy" in show and "50.00 %" in show
    assert json.loads(lab.lab("show", "1", "--json", check=True).stdout)["runs"][0]["status"] == "succeeded"
    assert "the queue is empty" in lab.lab("queue", check=True).stdout
    events = lab.lab("logs", "1", "--events", check=True).stdout
    assert '"type": "result"' in events


def test_bad_parameters_on_the_command_line(lab: LabHarness) -> None:
    for args, text in ((["run", "fake", "-p", "steps"], "expected key=value"),
                       (["run", "fake", "-p", "warp=1"], "fake has no parameter 'warp'"),
                       (["run", "fake", "-p", "steps=lots"], "steps"),
                       (["run", "nope"], "unknown experiment 'nope'"),
                       (["show", "99"], "no experiment with id 99"),
                       (["logs", "99"], "no run with id 99"),
                       (["show", "x"], "invalid int value")):
        done = lab.lab(*args)
        assert done.returncode == 2, (args, done)
        assert text in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert lab.query("SELECT * FROM experiments") == []


def test_approve_and_reject_a_waiting_proposal(lab: LabHarness) -> None:
    plan = Catalog().plan("fake", {"steps": 2})

    async def propose() -> tuple[int, int]:
        store = await Store.open(lab.dir.ensure().db)
        ids = [await store.create_experiment(NewExperiment(name=n, catalog="fake", params=plan.params,
                                                           plan=plan.variants)) for n in ("a", "b")]
        await store.close()
        return ids[0], ids[1]

    first, second = asyncio.run(propose())
    status = lab.lab("status", check=True).stdout
    assert f"awaiting approval: {first} a, {second} b" in status
    assert "approved: 1 run(s) queued" in lab.lab("approve", str(first), check=True).stdout
    assert lab.wait_experiment(first)["status"] == "done"
    lab.lab("reject", str(second), "--reason", "run the baseline first", check=True)
    exp = lab.experiment(second)
    assert exp["status"] == "rejected" and exp["reject_reason"] == "run the baseline first"


def test_engine_commands(lab: LabHarness) -> None:
    assert lab.lab("engine", "status").returncode == 3
    start = lab.lab("engine", "start", check=True).stdout
    assert "running for" in start
    assert "already running" in lab.lab("engine", "start", check=True).stdout
    assert "engine: running" in lab.lab("engine", "status", check=True).stdout
    assert "engine stopped" in lab.lab("engine", "stop", check=True).stdout
    assert "no engine is running" in lab.lab("engine", "stop", check=True).stdout


def test_an_engine_started_from_a_folder_removed_at_once_still_records(lab: LabHarness, tmp_path: Path) -> None:
    """`lab engine start` leaves its engine working in the lab's folder, not the caller's: that may
    be gone a moment later (a temporary one), and every child the engine starts in it (git, the
    report writer) would fail; one did, at the engine's start, as it imported GitPython."""
    here = tmp_path / "gone-soon"
    here.mkdir()
    done = subprocess.run([sys.executable, "-m", "cli", "--dir", str(lab.root), "engine", "start"], cwd=here,
                          env=lab.env, capture_output=True, text=True, timeout=scaled(60))
    assert done.returncode == 0, done.stderr
    here.rmdir()
    engine = lab.engine_pid()
    assert engine and Path(psutil.Process(engine).cwd()) == lab.root.resolve()
    exp_id = lab.submit("fake", "steps=3")
    assert lab.wait_experiment(exp_id)["status"] == "done"
    assert lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 60, "the commit")


def test_a_broken_config_is_one_clear_line(lab: LabHarness) -> None:
    lab.write_config("[slots]\ncpu = 'many'\n")
    done = lab.lab("engine", "run")
    assert done.returncode == 2 and "slots.cpu must be int" in done.stderr and "Traceback" not in done.stderr
    lab.write_config("[slots\n")
    done = lab.lab("run", "fake")
    assert done.returncode == 2 and "config.toml: cannot read it" in done.stderr


def test_retry_priority_pause_resume(lab: LabHarness) -> None:
    exp_id = lab.submit("fake", "exit_code=5")
    assert lab.wait_experiment(exp_id)["status"] == "failed"
    assert "1 run(s) queued again" in lab.lab("retry", str(exp_id), check=True).stdout
    assert "priority 7" in lab.lab("priority", str(exp_id), "7", check=True).stdout
    assert "paused" in lab.lab("pause", check=True).stdout
    assert json.loads(lab.lab("status", "--json", check=True).stdout)["paused"] is True
    assert "resumed" in lab.lab("resume", check=True).stdout
    lab.wait_experiment(exp_id)


def test_engine_run_serves_in_the_foreground_until_sigterm(lab: LabHarness) -> None:
    """`lab engine run` (for systemd or tmux) owns its process and leaves cleanly on SIGTERM."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "cli", "--dir", str(lab.root), "engine", "run"],
                            env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pid = lab.wait_for(lambda: (p := lab.engine_pid()) and p > 0 and p, 60, "the engine's lock")
        assert pid == proc.pid
        assert lab.submit("fake", "steps=2") == 1
        lab.wait_experiment(1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "internal error" not in err
    assert lab.engine_pid() is None


def test_every_option_and_argument_of_every_command_has_help() -> None:
    """`lab <command> --help` explains each flag (`lab logs --stdout`, `--events`, ...)."""
    import argparse

    from cli.main import build_parser

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                helped = {a.dest for a in action._choices_actions if a.help}
                for name, sub in action.choices.items():
                    if name not in helped and sub.prog.split()[-1] == name:
                        missing.append(f"{path} {name}")
                    walk(sub, f"{path} {name}")
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "lab")
    assert missing == [], f"without help: {missing}"


def test_each_command_imports_only_the_module_that_registers_it() -> None:
    """`cli.commands.COMMANDS` names, for every command, the module that registers it: `lab status`
    builds its parser from that module alone and never imports the others."""
    import argparse
    import subprocess
    import sys

    from cli.commands import COMMANDS, MODULES, command_modules

    registered: dict[str, str] = {}
    for module in command_modules():
        sub = argparse.ArgumentParser().add_subparsers()
        module.register(sub)
        registered.update(dict.fromkeys(sub.choices, module.__name__.rsplit(".", 1)[1]))
    assert registered == COMMANDS and list(dict.fromkeys(COMMANDS.values())) == list(MODULES)
    probe = ("import sys; from cli.main import build_parser, command_word; "
             "build_parser(command_word(['--dir', 'x', 'status', '--json'])); "
             "print(*(m for m in sys.modules if m.startswith('cli.commands.')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    imported = {name.rsplit(".", 1)[1] for name in done.stdout.split()}
    assert "experiment_cmds" in imported and not imported & {"records_cmds", "report_cmds", "agent_cmds",
                                                              "publish_cmds", "open_cmds"}, done.stdout


def test_status_and_run_wait_say_why_runs_wait(lab: LabHarness) -> None:
    """A paused queue and no free slot, said by `lab status` and `lab run --wait` as they happen."""
    import subprocess
    import sys

    from tests.timing import scaled

    lab.write_config("[slots]\ncpu = 1\nthreads_per_run = 1\n\n[runs]\ntimeout_s = 120\nretries = 0\n")
    paused = lab.lab("pause", check=True)
    assert "started the engine of" in paused.stderr and "`lab engine stop` stops it" in paused.stderr, \
        "a command that starts an engine says so"
    assert "started the engine" not in lab.lab("status", check=True).stderr
    waiting = subprocess.Popen([sys.executable, "-m", "cli", "--dir", str(lab.root), "run", "fake", "-p", "steps=2",
                                "--wait"], env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lab.wait_for(lambda: "waiting: the queue is paused" in lab.lab("status", check=True).stdout, 60,
                     "`lab status` to say the queue is paused")
        assert "(`lab resume` resumes it)" in lab.lab("status", check=True).stdout
        lab.lab("resume", check=True)
        out, err = waiting.communicate(timeout=scaled(120))
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 0, err
    assert "runs wait: the queue is paused (`lab resume` resumes it)" in out, out
    assert out.index("runs wait:") < out.index("runs no longer wait") < out.index("succeeded"), out
    assert "started the engine" not in err, "one was running already"

    # one CPU slot, held by a slow run: the next one waits for it, and says so
    lab.lab("run", "fake", "-p", "steps=200", "-p", "step_sleep_s=0.2", check=True)
    lab.lab("run", "fake", "-p", "steps=2", check=True)
    lab.wait_for(lambda: "no free CPU slot (1 of 1 busy" in lab.lab("status", check=True).stdout, 60,
                 "`lab status` to say no slot is free")
    assert "[slots] cpu" in lab.lab("status", check=True).stdout
    lab.lab("cancel", "2", check=True)


def test_lab_logs_says_empty_for_an_empty_stream(lab: LabHarness) -> None:
    lab.lab("run", "fake", "-p", "steps=2", "--wait", check=True)
    done = lab.lab("logs", "1", check=True)  # the stand-in program writes nothing to stderr
    assert done.stdout.strip() == "(empty: run 1 has written nothing to stderr)", done.stdout


def test_a_long_export_shows_its_progress_and_a_quick_one_stays_silent() -> None:
    import io

    from cli.commands.common import ProgressLine

    now = [0.0]
    out = io.StringIO()
    quick = ProgressLine("exporting to MLflow", stream=out, clock=lambda: now[0], after_s=1.0, before="opening")
    quick(0, 3)
    now[0] = 0.5
    quick(3, 3)
    quick.end()
    assert out.getvalue() == "", "under a second: nothing said"

    now[0] = 0.0
    slow = ProgressLine("exporting to MLflow", stream=out, clock=lambda: now[0], after_s=1.0, every_s=1.0)
    for i, t in enumerate((0.2, 1.5, 1.7, 2.6, 3.0)):
        now[0] = t
        slow(i, 5)
    now[0] = 3.1
    slow(5, 5)
    slow.end()
    lines = out.getvalue().splitlines()
    assert lines == ["exporting to MLflow: 1 of 5 runs, 1.5 s", "exporting to MLflow: 3 of 5 runs, 2.6 s",
                     "exporting to MLflow: 5 of 5 runs, 3.1 s"], lines
