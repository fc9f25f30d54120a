"""The lab directory: where every file of one lab lives (default ./lab, or --dir / JOULELAB_DIR)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = "lab"
ENV_DIR = "JOULELAB_DIR"

DEFAULT_CONFIG = """\
# Joule Lab settings. Secrets (API keys) never go here: they are read from the environment.

[slots]
cpu = 2                 # runs at once on the CPU
gpus = "auto"           # "auto" (every GPU NVML sees), or a list of indices such as [0, 1]
per_gpu = 1             # runs at once on each GPU
threads_per_run = 0     # CPU threads per run; 0 = the machine's cores / cpu slots

[runs]
timeout_s = 3600        # a run still going after this is killed (timed_out)
mem_limit_mb = 0        # a run whose resident memory exceeds this is killed (0 = no limit)
retries = 1             # extra attempts for a run that failed or was interrupted

[engine]
monitor_interval_s = 1.0
system_history = 3600   # system samples kept for the gauges

[executor]
kind = "local"          # "local" (this machine) or "ray" (one Ray job per run)
warm = true             # local: fork runs from a worker that has imported torch (fast starts)
# address = "http://127.0.0.1:8265"   # ray: the dashboard (Jobs API), "ray://host:10001" or "auto"
# python = "python"                   # ray: the interpreter on the nodes
# shared_dir = false                  # ray: the lab directory is mounted on every node

[research]
autonomy = 1            # 1 assisted, 2 semi-autonomous, 3 autonomous
background = false      # the engine runs research sprints by itself
backend = "offline"     # "offline" or "openai"
profile = "default"     # profile of the experiments the agents propose
seeds = 3               # seeds per variant (5 after high variance)
catalog = []            # the entries the researcher may study; [] = all
parallel = 1            # sprints in flight at once in the background
max_depth = 3           # generations of follow-ups below a line's first experiment
interval_s = 5.0        # how often the background driver looks at the lab

[budgets]
experiments_per_hour = 6
kwh_per_day = 1.0
llm_usd_per_day = 1.0

[llm]
# base_url = "http://localhost:11434/v1"   # or JOULELAB_LLM_BASE_URL / OPENAI_BASE_URL
# model = "llama3.1"                        # or JOULELAB_LLM_MODEL
# the API key is read from JOULELAB_LLM_API_KEY / OPENAI_API_KEY only, never from here
allow_generated_code = false
timeout_s = 60          # between bytes of a streamed answer
total_timeout_s = 300   # per call
retries = 3             # on 429, 408, 5xx, timeouts (honouring Retry-After)
backoff_s = 1.0
max_backoff_s = 30.0
temperature = 0.2
# price_in_per_mtok = 0.15                  # dollars per million tokens, for the spend gauge
# price_out_per_mtok = 0.60

[llm.sandbox]           # generated experiment code (allow_generated_code = true)
cpu_s = 600
mem_mb = 2048
timeout_s = 900
"""

GITIGNORE = """\
lab.db
lab.db-*
engine.lock
engine.log
crash.log
runs/
cache/
reports/
paper/
export/
generated/
__pycache__/
"""


@dataclass(frozen=True)
class LabDir:
    root: Path

    @classmethod
    def resolve(cls, given: str | os.PathLike[str] | None = None) -> "LabDir":
        return cls(Path(given or os.environ.get(ENV_DIR) or DEFAULT_DIR).expanduser().resolve())

    @property
    def db(self) -> Path:
        return self.root / "lab.db"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def lock(self) -> Path:
        return self.root / "engine.lock"

    @property
    def log(self) -> Path:
        return self.root / "engine.log"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def exp(self) -> Path:
        return self.root / "exp"

    def run_dir(self, run_id: int) -> Path:
        return self.runs / str(run_id)

    def exists(self) -> bool:
        return self.config.exists() or self.db.exists()

    def ensure(self) -> "LabDir":
        """Create the directory and its default files on first use."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs.mkdir(exist_ok=True)
        if not self.config.exists():
            self.config.write_text(DEFAULT_CONFIG)
        gitignore = self.root / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text(GITIGNORE)
        return self
