"""The W&B runs of an experiment as the lab sees them (the optional extra `joulelab[wandb]`): whether
the lab can reach W&B, a run's offline files read back with wandb's own code, their sync, and the
`synced_and_downloadable` deliverable checked through `wandb.Api` as the pipeline document's
section 3 describes (the run's history holds the required metrics; its model artifact downloads
and loads).

Runs log offline (they never hold the key); the lab is online for W&B when it has an API key
(`WANDB_API_KEY`, or `wandb login`'s netrc entry) and `WANDB_MODE` is not `offline`/`disabled`.
Offline, the deliverable is unmet with the reason "not synced: offline", after the run's local
files are read back to say what they hold. Nothing here sends a byte anywhere while offline.
"""

from __future__ import annotations

import netrc
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.deliverable_spec import WANDB_METRICS
from agents.loadable import loadable

SYNC_TIMEOUT_S = 300
OFFLINE_MODES = ("offline", "disabled", "dryrun")
API_HOST = "api.wandb.ai"
#: the transaction log's layout (LevelDB's log format, as wandb writes it)
IDENT, HEADER, BLOCK = b":W&B", 7, 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass(frozen=True)
class OfflineRun:
    """What a run's local W&B files hold, read with wandb's own reader."""
    folder: Path
    run_id: str
    project: str
    entity: str
    metrics: frozenset[str]
    history_rows: int
    config_keys: frozenset[str]
    artifacts: tuple[tuple[str, str], ...] = ()   # (type, name)
    finished: bool = False
    synced: bool = False
    files: tuple[str, ...] = field(default_factory=tuple)


def installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("wandb") is not None


def online() -> tuple[bool, str]:
    """(whether the lab may talk to W&B, why not)."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in OFFLINE_MODES:
        return False, f"WANDB_MODE={mode}"
    if os.environ.get("WANDB_API_KEY"):
        return True, ""
    try:
        if netrc.netrc().authenticators(API_HOST):
            return True, ""
    except (OSError, netrc.NetrcParseError):
        pass
    return False, "no W&B API key (WANDB_API_KEY or `wandb login`)"


def _history_keys(record: Any) -> list[str]:
    return [item.key or "/".join(item.nested_key) for item in record.history.item]


def records(path: Path) -> Iterator[bytes]:
    """The records of a `.wandb` transaction log: LevelDB's log format (32 KiB blocks of records
    with a 7-byte header: CRC-32 of type and data, length, type FULL/FIRST/MIDDLE/LAST) after the
    file's own 7-byte header (`:W&B`, magic, version), as wandb's writer lays it out. A record
    whose checksum does not match, or a log cut off at its end, ends the scan."""
    data = path.read_bytes()
    if len(data) < HEADER or data[:4] != IDENT:
        raise ValueError(f"{path} is not a W&B transaction log (no {IDENT!r} header)")
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # a block's tail too short for a header is padding
            pos += room
            continue
        checksum, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        body = data[pos + HEADER:pos + HEADER + length]
        if len(body) < length or zlib.crc32(body, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != checksum:
            return
        pos += HEADER + length
        if kind == FULL:
            yield body
        elif kind == FIRST:
            pending = body
        elif kind == MIDDLE:
            pending += body
        elif kind == LAST:
            yield pending + body
            pending = b""
        else:
            return


def read_offline(folder: Path) -> OfflineRun:
    """The run in `folder` (an `offline-run-*` folder) read from its `.wandb` transaction log, each
    record decoded by wandb's own protobuf schema (`wandb.proto.wandb_internal_pb2.Record`);
    ValueError when there is none."""
    from wandb.proto import wandb_internal_pb2

    logs = sorted(folder.glob("*.wandb"))
    if not logs:
        raise ValueError(f"{folder} holds no .wandb file")
    run_id = project = entity = ""
    metrics: set[str] = set()
    config: set[str] = set()
    artifacts: list[tuple[str, str]] = []
    rows, finished = 0, False
    for data in records(logs[0]):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run_id, project, entity = record.run.run_id, record.run.project, record.run.entity
            config.update(item.key for item in record.run.config.update)
        elif kind == "config":
            config.update(item.key for item in record.config.update)
        elif kind == "history":
            rows += 1
            metrics.update(k for k in _history_keys(record) if not k.startswith("_"))
        elif kind == "artifact":
            artifacts.append((record.artifact.type, record.artifact.name))
        elif kind == "exit":
            finished = True
    synced = Path(str(logs[0]) + ".synced").exists()
    return OfflineRun(folder, run_id, project, entity, frozenset(metrics), rows, frozenset(config),
                      tuple(artifacts), finished, synced, tuple(sorted(p.name for p in folder.rglob("*") if p.is_file())))


def sync(folder: Path) -> str | None:
    """`wandb sync` of one offline run; why it failed, or None."""
    try:
        done = subprocess.run([sys.executable, "-m", "wandb", "sync", str(folder)], capture_output=True, text=True,
                              timeout=SYNC_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"wandb sync could not run ({exc})"
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        return f"wandb sync failed: {lines[-1][:200] if lines else f'exit {done.returncode}'}"
    return None


def _required(d: dict[str, Any]) -> list[str]:
    asked = d.get("required_metrics")
    return [str(m) for m in asked] if isinstance(asked, list) and asked else list(WANDB_METRICS)


def _local(run: OfflineRun, required: list[str]) -> str:
    """What the offline files hold, for the detail of an unmet deliverable."""
    lacking = [m for m in required if m not in run.metrics]
    models = [name for kind, name in run.artifacts if kind == "model"]
    held = (f"history of {run.history_rows} step(s) with {', '.join(required)}" if not lacking
            else f"history lacking {', '.join(lacking)}")
    return f"{held}; {'model artifact ' + models[0] if models else 'no model artifact'}"


def _api_check(run: OfflineRun, required: list[str]) -> tuple[bool, str]:
    """The document's validation: the run through wandb.Api, its history, its model artifact."""
    import wandb

    api = wandb.Api()
    path = f"{run.entity or api.default_entity}/{run.project}/{run.run_id}"
    remote = api.run(path)
    rows = list(remote.scan_history(keys=required))
    columns = set().union(*(set(r) for r in rows)) if rows else set()
    lacking = [m for m in required if m not in columns]
    if lacking:
        return False, f"{path}: its history lacks {', '.join(lacking)}"
    models = [a for a in remote.logged_artifacts() if a.type == "model"]
    if not models:
        return False, f"{path}: no model artifact"
    with tempfile.TemporaryDirectory(prefix="joulelab-wandb-") as tmp:
        folder = Path(models[0].download(root=tmp))
        why = loadable(folder)
    if why is not None:
        return False, f"{path}: model artifact {models[0].name} downloads but does not load ({why})"
    return True, f"{path}: history with {', '.join(required)} ({len(rows)} rows), model artifact {models[0].name} " \
                 "downloads and loads"


def _one(d: dict[str, Any], run_row: dict[str, Any], is_online: bool, why_offline: str) -> tuple[bool | None, str]:
    result = run_row["result"]
    label = f"run {run_row['id']}"
    if result.get("wandb_error"):
        return False, f"{label}: no W&B run ({result['wandb_error']})"
    folder = result.get("wandb_dir")
    if not isinstance(folder, str) or not Path(folder).is_dir():
        return False, f"{label}: no W&B run was logged (its result names no wandb_dir)"
    project = d.get("project")
    local = read_offline(Path(folder))
    if project and local.project and local.project != project:
        return False, f"{label}: logged to project {local.project}, not {project}"
    required = _required(d)
    if not is_online:
        return False, f"{label}: not synced: offline ({why_offline}); the local run {local.run_id} holds " \
                      f"{_local(local, required)}; `lab export --wandb` sends it when online"
    if not local.synced and (failed := sync(local.folder)) is not None:
        return False, f"{label}: not synced: {failed}"
    try:
        return _api_check(local, required)
    except Exception as exc:  # the API raises many kinds (network, auth, not found): each is unmet
        return False, f"{label}: synced, but the W&B API check failed ({' '.join(str(exc).split())[:160]})"


def check(d: dict[str, Any], runs: list[dict[str, Any]]) -> tuple[bool | None, str]:
    """The `synced_and_downloadable` deliverable over the succeeded runs it applies to."""
    if not runs:
        return False, "no succeeded run to check"
    if not installed():
        return None, "not checked: the wandb package is not installed (pip install 'joulelab[wandb]')"
    is_online, why = online()
    verdicts = [_one(d, r, is_online, why) for r in runs]
    return all(ok for ok, _ in verdicts), "; ".join(detail for _, detail in verdicts)
