"""A real Ray head for the tests, on loopback only: every test that needs Ray starts it here.

The head, the labs that talk to it and the test's own questions to it (tests/ray_probe.py) all
run inside one loopback-only network namespace (tests/netns.py): Ray binds its ports on every
interface, and there the only interface is `lo`. Where no such namespace can be made, the Ray
tests are skipped with the reason rather than run on the machine's real interfaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil

from tests.conftest import ROOT, make_env
from tests.netns import LoopbackNamespace
from tests.procs import wait_ended
from tests.timing import scaled

HEAD_START_S = 180
#: a secret of the node (not of the engine): runs must never see it
NODE_SECRET = "node-secret-value"


class Probe:
    """tests/ray_probe.py running inside the namespace: one question, one answer."""

    def __init__(self, ns: LoopbackNamespace, url: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(ns.command([sys.executable, "-m", "tests.ray_probe", url]), cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)

    def ask(self, call: str, *args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"call": call, "args": list(args)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the Ray probe ended (exit {self.proc.poll()}) while asked {call}")
        reply = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"the Ray probe's {call}{tuple(args)} failed: {reply['error']}")
        return reply["ok"]

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(scaled(10))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class JobsClient:
    """The subset of ray.job_submission.JobSubmissionClient the tests use, asked through the probe;
    statuses come back as their names ("RUNNING", "STOPPED", ...)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def list_jobs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(**job) for job in self.probe.ask("list_jobs")]

    def get_job_status(self, job_id: str) -> str:
        return str(self.probe.ask("get_job_status", job_id))

    def get_job_info(self, job_id: str) -> SimpleNamespace:
        return SimpleNamespace(**self.probe.ask("get_job_info", job_id))

    def stop_job(self, job_id: str) -> bool:
        return bool(self.probe.ask("stop_job", job_id))

    def get_version(self) -> str:
        return str(self.probe.ask("get_version"))


class RayHead:
    """`ray start --head --block` with 2 CPUs inside its own loopback-only namespace."""

    def __init__(self, temp: Path) -> None:
        self.temp = temp
        self.ns = LoopbackNamespace()
        # fixed ports, below Linux's ephemeral range (32768-60999) that the head's own clients
        # draw from: the namespace is this head's alone, so nothing else can hold them
        gcs, dashboard, client, worker_base = 6379, 8265, 10001, 21000
        agent_http, agent_grpc, metrics, runtime_env, node_manager, object_manager = range(20010, 20016)
        self.url = f"http://127.0.0.1:{dashboard}"
        self.client_address = f"ray://127.0.0.1:{client}"
        env = make_env(temp)
        # GRPC_ENABLE_FORK_SUPPORT=0: the client server forks each client's own server from a process
        # with gRPC threads, and gRPC's fork handlers crashed that child (signal 11) in ~1 of 5 heads;
        # the connection then failed after the client server's 30 s wait (README.md, Ray)
        env.update(RAY_USAGE_STATS_ENABLED="0", GRPC_ENABLE_FORK_SUPPORT="0",
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
                   JOULELAB_NODE_API_KEY=NODE_SECRET)
        ray = str(Path(sys.executable).parent / "ray")
        with open(temp / "head.log", "wb") as log:
            self.process = subprocess.Popen(self.ns.command([
                ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", "--num-cpus", "2",
                "--num-gpus", "0", "--include-dashboard=true", "--dashboard-host", "127.0.0.1",
                "--dashboard-port", str(dashboard), "--port", str(gcs), "--ray-client-server-port", str(client),
                "--dashboard-agent-listen-port", str(agent_http), "--dashboard-agent-grpc-port", str(agent_grpc),
                "--metrics-export-port", str(metrics), "--runtime-env-agent-port", str(runtime_env),
                "--node-manager-port", str(node_manager), "--object-manager-port", str(object_manager),
                "--min-worker-port", str(worker_base), "--max-worker-port", str(worker_base + 199),
                "--object-store-memory", str(100 * 2**20), "--temp-dir", str(temp), "--disable-usage-stats"]),
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.probe = Probe(self.ns, self.url, make_env(temp))
        self.jobs = JobsClient(self.probe)

    def wait_up(self) -> bool:
        """Until the head says it started and the Jobs API answers: True; False when the head
        gave up (Ray waits only 30 s for its raylet to register, which a loaded machine can
        miss); RuntimeError with the head's log when it is still not up after HEAD_START_S."""
        deadline = time.monotonic() + scaled(HEAD_START_S)
        while not ("Ray runtime started" in self.log() and self.probe.ask("dashboard_up")):
            if self.process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start:\n{self.log()[-3000:]}")
            time.sleep(0.5)
        return self.process.poll() is None

    def log(self) -> str:
        return (self.temp / "head.log").read_text(errors="replace")

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv, run beside the head (a lab that talks to it)."""
        return self.ns.command(argv)

    def processes(self) -> list[psutil.Process]:
        """The head and every process it started (they all live in its namespace)."""
        try:
            return [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """The head and everything under it, by pid (never `ray stop`, which would stop every Ray
        on the machine), then the namespace's last processes by their namespace."""
        family = self.processes()
        self.process.terminate()  # `ray start --block` stops its cluster on SIGTERM
        try:
            self.process.wait(scaled(60))
        except subprocess.TimeoutExpired:
            self.process.kill()
        for proc in wait_ended(family, scaled(10)):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        self.probe.close()
        for proc in psutil.process_iter():  # anything else left in the namespace (a job's orphans)
            if proc.pid != self.ns.pid and self.ns.holds(proc.pid):
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        self.ns.close()


#: how many times a head that gave up starting is started again (each in a fresh namespace)
HEAD_STARTS = 3


@contextlib.contextmanager
def ray_head_running() -> Iterator[RayHead]:
    """A started head in a short folder directly under /tmp: Ray's Unix sockets live in it and a
    socket path may not exceed 107 bytes (pytest's temporary folders, deeper under xdist, do)."""
    head = None
    temp = Path(tempfile.mkdtemp(prefix="jl-ray-", dir="/tmp"))
    try:
        for start in range(1, HEAD_STARTS + 1):
            head = RayHead(temp)
            if head.wait_up():
                break
            log = head.log()
            head.stop()
            head = None
            if start == HEAD_STARTS:
                raise RuntimeError(f"the Ray head gave up starting {HEAD_STARTS} times:\n{log[-3000:]}")
            shutil.rmtree(temp, ignore_errors=True)
            temp.mkdir()
        assert head is not None
        yield head
    finally:
        if head is not None:
            head.stop()
        shutil.rmtree(temp, ignore_errors=True)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (an unreachable cluster's address)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
