"""Where and with what an experiment's runs ran (`environment.json` in its record): Python, the
platform and CPU, the GPUs, the devices the runs used, the libraries they reported, the lab's
own version and the command that re-runs each run. Written by the recorder (records/git.py)."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from contract import VERSION, units
from contract.record_json import OPT, JsonRecord
from db import GpuReading, Run

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Environment(JsonRecord):
    """environment.json: where and with what the runs ran. Written by the recorder (`environment`);
    read by the report (records/reports/experiment_data.py), where a field an older file lacks
    keeps its default (units.MISSING: not said) and `note` says when it is this machine at report time."""

    python: str | None = units.MISSING
    platform: str | None = None
    cpu: str | None = units.MISSING
    cpu_count: int | str | None = units.MISSING
    gpus: tuple[str | None, ...] = ()         # each GPU's name (None: NVML could not say)
    devices: tuple[str, ...] = ()             # the devices the runs ran on
    libraries: dict[str, str] = field(default_factory=dict)   # library -> version, as the runs reported them
    joulelab_version: str | None = None
    joulelab_git_sha: str | None = None       # the lab's own commit (None: not a git checkout)
    commands: dict[str, str] = field(default_factory=dict)    # run id -> the command that re-runs it
    note: str | None = field(default=None, metadata=OPT)


def _lab_code_sha() -> str | None:
    sha = None
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
    return sha


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def reported_versions(runs: list[Run]) -> dict[str, str]:
    """The library versions the first run that reported them gave (its result's `versions`)."""
    for r in runs:
        versions = r.result.get("versions") if isinstance(r.result, dict) else None
        if isinstance(versions, dict):
            return {str(k): v for k, v in versions.items() if isinstance(v, str)}
    return {}


def environment(runs: list[Run], module: str, gpus: list[GpuReading]) -> Environment:
    """Where and with what the runs ran: from the runs' own reports and this machine."""
    return Environment(
        python=sys.version.split()[0], platform=platform.platform(), cpu=_cpu_model(), cpu_count=os.cpu_count(),
        gpus=tuple(g.get("name") for g in gpus), devices=tuple(sorted({r.device for r in runs if r.device})),
        libraries=reported_versions(runs), joulelab_version=VERSION, joulelab_git_sha=_lab_code_sha(),
        commands={str(r.id): f"cd {r.run_dir} && {sys.executable} -m {module} {r.catalog} --spec spec.json"
                  for r in runs if r.run_dir})
