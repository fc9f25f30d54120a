"""Where everything of a lab lives: the lab directory (default ./lab, or --dir / JOULELAB_DIR)
and, outside it, the user's cache.

A new lab is also a git repository from its first moment: its `config.toml` (which never holds
a secret) and `.gitignore` are the first commit, so the settings every later experiment ran
under are part of the record (the recorder commits config.toml again whenever it changed).
"""

from __future__ import annotations

import os
import subprocess
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
min_free_mb = 100       # no run starts while the lab's disk has less free (what runs write must fit)

[executor]
kind = "local"          # "local" (this machine) or "ray" (one Ray job per run)
warm = true             # local: fork runs from a worker that has imported torch (fast starts)
warm_idle_s = 300       # local: the worker (~500 MB) starts when a run is queued, exits this long after the last
# address = "http://127.0.0.1:8265"   # ray: the dashboard (Jobs API), "ray://host:10001" or "auto"
# python = "python"                   # ray: the interpreter on the nodes
# shared_dir = false                  # ray: the lab directory is mounted on every node

[research]
autonomy = 1            # 1 assisted, 2 semi-autonomous, 3 autonomous
background = false      # the engine runs research sprints by itself
backend = "offline"     # "offline" or "openai"
profile = "default"     # profile of the experiments the agents propose
seeds = 5               # seeds per variant (the rubric's evidence asks for >= 5)
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
# the API key is read from the environment only, never from here: JOULELAB_LLM_API_KEY, else OPENAI_API_KEY
# api_key_env = "MY_PROVIDER_KEY"           # or from this variable alone
allow_generated_code = false
connect_timeout_s = 10      # to open the connection
first_byte_timeout_s = 15   # a request with no answer at all is given up after this
stall_timeout_s = 15        # a stream silent this long is given up
total_timeout_s = 300       # one call, a live stream included
retries = 2                 # on 429, 408, 5xx, timeouts (honouring Retry-After): 3 attempts
backoff_s = 1.0             # a dead endpoint costs at most 3 x 15 + 1 + 2 = 48 s, then the team goes offline
max_backoff_s = 30.0
degraded_retry_s = 600      # a failed model is skipped by every process of the lab this long, then tried once
wait_notice_s = 5           # a silent wait is shown in the dialogue this often
temperature = 0.2
# price_in_per_mtok = 0.15                  # dollars per million tokens, for the spend gauge
# price_out_per_mtok = 0.60

[llm.sandbox]           # generated experiment code (allow_generated_code = true): always in bubblewrap
cpu_s = 600             # CPU time of each process
mem_mb = 2048           # address space of each process
timeout_s = 900         # wall time of a run
processes = 64          # processes and threads at once
output_mb = 512         # stdout, stderr and the files of its run directory together
files = 10000           # files it may create in its run directory
tmp_mb = 256            # its private /tmp and home (in memory)
allow_unsandboxed = false   # true: run it even where no working bubblewrap exists (shown in red)
"""

GITIGNORE = """\
lab.db
lab.db-*
engine.lock
engine.log
crash.log
disk.notice
runs/
cache/
reports/
paper/
publish/
export/
generated/
__pycache__/
"""


#: the author of the lab's commits on a machine where git has no identity configured
FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "Joule Lab", "GIT_AUTHOR_EMAIL": "joulelab@localhost",
                     "GIT_COMMITTER_NAME": "Joule Lab", "GIT_COMMITTER_EMAIL": "joulelab@localhost"}
CREATED_MESSAGE = "lab created: config.toml and .gitignore"


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def identity_env(root: Path) -> dict[str, str]:
    """Git needs an author; a machine with none configured commits as 'Joule Lab'."""
    try:
        return {} if _git(root, "config", "user.email").stdout.strip() else FALLBACK_IDENTITY
    except (OSError, subprocess.TimeoutExpired):
        return FALLBACK_IDENTITY


def commit_created(root: Path) -> str | None:
    """Make the new lab a git repository whose first commit is its config.toml and .gitignore;
    the reason when that could not be done (no git on this machine, ...), else None. The recorder
    commits both with the next experiment in any case."""
    try:
        if not (root / ".git").exists() and (done := _git(root, "init", "-q")).returncode:
            return done.stderr.strip() or "git init failed"
        _git(root, "add", "--", "config.toml", ".gitignore")
        done = _git(root, "commit", "-q", "--no-verify", "-m", CREATED_MESSAGE, env=identity_env(root))
        return None if done.returncode == 0 else (done.stderr.strip() or done.stdout.strip())[:300]
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"git is not usable here: {exc}"


@dataclass(frozen=True)
class LabDir:
    root: Path

    @classmethod
    def resolve(cls, given: str | os.PathLike[str] | None = None) -> LabDir:
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
    def disk_notice(self) -> Path:
        """What waits for space while the disk is full (contract/diskspace.py)."""
        return self.root / "disk.notice"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def exp(self) -> Path:
        return self.root / "exp"

    @property
    def roadmap(self) -> Path:
        """ROADMAP.md: where the lab stands against its roadmap, rewritten after each rated experiment."""
        return self.root / "ROADMAP.md"

    @property
    def publish(self) -> Path:
        """`lab publish`'s default folder."""
        return self.root / "publish"

    @property
    def published(self) -> Path:
        """What `lab publish` last wrote and where (and pushed), as JSON."""
        return self.root / "published.json"

    def run_dir(self, run_id: int) -> Path:
        return self.runs / str(run_id)

    def exists(self) -> bool:
        return self.config.exists() or self.db.exists()

    def ensure(self) -> LabDir:
        """Create the directory and its default files on first use (and commit them, above)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs.mkdir(exist_ok=True)
        created = not self.config.exists()
        if created:
            self.config.write_text(DEFAULT_CONFIG)
        gitignore = self.root / ".gitignore"
        if not gitignore.exists():
            gitignore.write_text(GITIGNORE)
        if created:
            commit_created(self.root)
        return self


def cache_dir() -> Path:
    """The user's cache (pre-trained models, tokenizers, the catalog's answers): $JOULELAB_CACHE,
    else ~/.cache/joulelab."""
    return Path(os.environ.get("JOULELAB_CACHE") or Path.home() / ".cache" / "joulelab")
