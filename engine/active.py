"""A run the engine watches: what the scheduler knows of it, and its executor's handle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.executors import Executor, RunHandle


@dataclass
class ActiveRun:
    run_id: int
    experiment_id: int
    attempt: int
    device: str
    run_dir: Path
    started_at: float
    timeout_s: float | None
    mem_limit_bytes: int | None
    handle: RunHandle
    executor: Executor
    kill_reason: str | None = None  # "timeout", "memory", "cancel"
    kill_detail: str = ""
    peak_rss: int = 0
    process_recorded: bool = False  # its pid (and how its start went) are in the database
