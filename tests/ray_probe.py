"""The test's eyes inside the Ray head's network namespace (`python -m tests.ray_probe URL`).

The head listens on the namespace's own loopback, which the test process cannot reach; this
process, started inside the namespace, answers one JSON request per line on stdin with one JSON
line on stdout: the Jobs API calls the tests make, whether the dashboard answers, and what every
process of the namespace listens on (psutil, which reads the sockets of its own namespace).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any

import psutil


def dashboard_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/version", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def listeners() -> list[dict[str, Any]]:
    """Every listening TCP socket and bound UDP socket in this namespace, with its process."""
    out = []
    for conn in psutil.net_connections("inet"):
        if conn.status not in (psutil.CONN_LISTEN, psutil.CONN_NONE) or not conn.laddr:
            continue
        name = ""
        if conn.pid:
            try:
                name = psutil.Process(conn.pid).name()
            except psutil.Error:
                name = "?"
        out.append({"pid": conn.pid, "process": name, "ip": conn.laddr.ip, "port": conn.laddr.port,
                    "kind": "tcp" if conn.type == 1 else "udp"})
    return out


def interfaces() -> list[str]:
    return sorted(psutil.net_if_addrs())


class Jobs:
    """The Jobs API calls the tests make, answered as plain JSON values."""

    def __init__(self, url: str) -> None:
        from ray.job_submission import JobSubmissionClient

        self.client = JobSubmissionClient(url)

    def list_jobs(self) -> list[dict[str, str]]:
        return [{"submission_id": job.submission_id or "", "status": str(job.status).rsplit(".", 1)[-1]}
                for job in self.client.list_jobs()]

    def get_job_status(self, job_id: str) -> str:
        return str(self.client.get_job_status(job_id)).rsplit(".", 1)[-1]

    def get_job_info(self, job_id: str) -> dict[str, Any]:
        info = self.client.get_job_info(job_id)
        return {"status": str(info.status).rsplit(".", 1)[-1], "runtime_env": info.runtime_env or {},
                "entrypoint": info.entrypoint}

    def stop_job(self, job_id: str) -> bool:
        return bool(self.client.stop_job(job_id))

    def get_version(self) -> str:
        return str(self.client.get_version())


def answer(url: str, request: dict[str, Any], jobs: list[Jobs]) -> Any:
    call, args = request["call"], request.get("args", [])
    if call == "dashboard_up":
        return dashboard_up(url)
    if call == "listeners":
        return listeners()
    if call == "interfaces":
        return interfaces()
    if not jobs:
        jobs.append(Jobs(url))
    return getattr(jobs[0], call)(*args)


def main() -> None:
    url = sys.argv[1]
    jobs: list[Jobs] = []
    for line in sys.stdin:
        try:
            reply = {"ok": answer(url, json.loads(line), jobs)}
        except Exception as exc:  # the test reports it; the probe stays up for the next question
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
