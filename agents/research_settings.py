"""The research team's settings: config.toml `[research]`, `[budgets]`, `[llm]`, the runtime
overrides of the settings table (autonomy, research on/off), and the host's environment.

The API key is read from the environment only; it is kept out of every repr, row and file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from contract import config
from contract.config import Budgets, ConfigError
from contract.jsonvalue import JsonObject, JsonValue
from contract.limits import BACKENDS, MAX_SEEDS, PROFILES
from contract.record_json import JsonRecord
from db import LabSettings, Store

#: a bad research setting; the message names the key and what is expected
SettingsError = ConfigError


@dataclass(frozen=True)
class SandboxSettings(JsonRecord):
    """`[llm.sandbox]`: the limits of generated experiment code, which runs only inside the sandbox
    (agents/sandbox.py), and whether it may run without one. The coder copies them into the
    experiment's parameters (`params["sandbox"]`, `to_json`); the sandbox reads them back there
    (`from_params`), so a run keeps the limits it was approved with."""

    cpu_s: int = 600            # CPU time of each process (RLIMIT_CPU)
    mem_mb: int = 2048          # address space of each process on CPU runs (RLIMIT_AS)
    timeout_s: float = 900.0    # wall time of the whole run
    processes: int = 64         # processes and threads at once (RLIMIT_NPROC, in the sandbox's namespace)
    output_mb: int = 512        # what it writes: stdout and stderr, and files in its run directory
    files: int = 10000          # files and directories it may create in its run directory
    tmp_mb: int = 256           # its private /tmp and home (memory-backed)
    allow_unsandboxed: bool = False   # run generated code even where no working bubblewrap exists

    @classmethod
    def from_params(cls, raw: JsonValue) -> SandboxSettings:
        """The settings an experiment recorded (missing keys: the defaults); a bad value raises
        SettingsError naming it."""
        if raw is not None and not isinstance(raw, Mapping):
            raise SettingsError(f"params.sandbox must be an object of limits, got {raw!r:.60}")
        return read_sandbox(raw or {}, "params.sandbox")


def read_sandbox(table: Mapping[str, JsonValue], where: str = "llm.sandbox") -> SandboxSettings:
    d = SandboxSettings()
    return SandboxSettings(
        cpu_s=config.get(table, "cpu_s", int, d.cpu_s, where, 1),
        mem_mb=config.get(table, "mem_mb", int, d.mem_mb, where, 64),
        timeout_s=float(config.get(table, "timeout_s", float, d.timeout_s, where, 1)),
        processes=config.get(table, "processes", int, d.processes, where, 4, 100000),
        output_mb=config.get(table, "output_mb", int, d.output_mb, where, 1),
        files=config.get(table, "files", int, d.files, where, 10),
        tmp_mb=config.get(table, "tmp_mb", int, d.tmp_mb, where, 1),
        allow_unsandboxed=config.get(table, "allow_unsandboxed", bool, d.allow_unsandboxed, where),
    )


@dataclass(frozen=True)
class LlmSettings:
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = ""                # the environment variable the key was read from ("": none set)
    allow_generated_code: bool = False
    connect_timeout_s: float = 10.0      # to open the connection
    first_byte_timeout_s: float = 15.0   # from sending a request to the answer's first line
    stall_timeout_s: float = 15.0        # longest silence inside a live stream
    timeout_s: float | None = None       # older setting: a cap on both limits above
    total_timeout_s: float = 300.0       # how long one call may take, a live stream included
    retries: int = 2                     # attempts after the first, on 429 / 5xx / timeouts
    backoff_s: float = 1.0               # first wait between attempts; doubles; Retry-After wins
    max_backoff_s: float = 30.0
    degraded_retry_s: float = 600.0      # a failed endpoint is skipped this long, then tried again
    wait_notice_s: float = 5.0           # a silent wait is reported in the dialogue this often
    price_in_per_mtok: float | None = None   # USD per million prompt tokens (None: known table)
    price_out_per_mtok: float | None = None
    temperature: float = 0.2
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)

    @property
    def first_byte_s(self) -> float:
        """The first-byte limit in force (`timeout_s`, when set, caps it)."""
        return min(self.first_byte_timeout_s, self.timeout_s or self.first_byte_timeout_s)

    @property
    def stall_s(self) -> float:
        """The stall limit in force (`timeout_s`, when set, caps it)."""
        return min(self.stall_timeout_s, self.timeout_s or self.stall_timeout_s)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def missing(self) -> str | None:
        """Why the openai backend cannot be used, or None."""
        if not self.base_url:
            return ("the openai backend needs an endpoint: set JOULELAB_LLM_BASE_URL (or OPENAI_BASE_URL) "
                    "or [llm] base_url in config.toml")
        if not self.model:
            return "the openai backend needs a model: set JOULELAB_LLM_MODEL or [llm] model in config.toml"
        return None


@dataclass(frozen=True)
class ResearchSettings:
    autonomy: int = 1
    background: bool = False
    backend: str = "offline"
    profile: str = "default"
    seeds: int = 5
    catalog: tuple[str, ...] = ()    # the entries the researcher may study; empty: all of them
    parallel: int = 1                # sprints in flight at once (background and `lab research`)
    max_depth: int = 3               # generations of follow-ups below a line's first experiment
    interval_s: float = 5.0          # how often the background driver looks at the lab
    budgets: Budgets = field(default_factory=Budgets)
    llm: LlmSettings = field(default_factory=LlmSettings)

    def with_overrides(self, *, autonomy: int | None = None, profile: str | None = None,
                       backend: str | None = None) -> ResearchSettings:
        """The settings of one sprint: command-line flags over the lab's settings."""
        out = self
        if autonomy is not None:
            _check_choice("autonomy", autonomy, (1, 2, 3))
            out = replace(out, autonomy=autonomy)
        if profile is not None:
            _check_choice("profile", profile, PROFILES)
            out = replace(out, profile=profile)
        if backend is not None:
            _check_choice("backend", backend, BACKENDS)
            out = replace(out, backend=backend)
        return out


def _check_choice(key: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices or isinstance(value, bool):
        raise SettingsError(f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}")


_get = config.get


_table = config.table


def read_config(root: Path) -> JsonObject:
    """The lab's config.toml as read, before its sections are parsed into settings ({} when there
    is none)."""
    return config.read(Path(root) / config.CONFIG_FILE)


def load_settings(raw: Mapping[str, JsonValue], overrides: LabSettings | None = None,
                  env: Mapping[str, str] | None = None) -> ResearchSettings:
    """Settings from config.toml sections, the settings table (`overrides`) and the environment."""
    env = os.environ if env is None else env
    over = overrides or LabSettings()
    research, llm = _table(raw, "research"), _table(raw, "llm")
    sandbox = _table(llm, "sandbox") if isinstance(llm.get("sandbox", {}), dict) else {}
    autonomy = _get(research, "autonomy", int, 1, "research") if over.autonomy is None else over.autonomy
    _check_choice("autonomy", autonomy, (1, 2, 3))
    background = _get(research, "background", bool, False, "research") if over.research is None else over.research
    backend = (_get(research, "backend", str, "offline", "research") if over.research_backend is None
               else over.research_backend)
    _check_choice("research.backend", backend, BACKENDS)
    profile = (_get(research, "profile", str, "default", "research") if over.research_profile is None
               else over.research_profile)
    _check_choice("research.profile", profile, PROFILES)
    catalog = research.get("catalog", [])
    if not (isinstance(catalog, list) and all(isinstance(c, str) and c for c in catalog)):
        raise SettingsError(f"research.catalog must be a list of catalog entry names, got {catalog!r}")
    api_key, api_key_env = _api_key(llm, env)
    return ResearchSettings(
        autonomy=autonomy,
        background=bool(background),
        backend=backend,
        profile=profile,
        seeds=_get(research, "seeds", int, 5, "research", 1, MAX_SEEDS),
        catalog=tuple(catalog),
        parallel=_get(research, "parallel", int, 1, "research", 1, 16),
        max_depth=_get(research, "max_depth", int, 3, "research", 0, 20),
        interval_s=float(_get(research, "interval_s", float, 5.0, "research", 0.1)),
        budgets=config.budgets(raw),
        llm=LlmSettings(
            base_url=(env.get("JOULELAB_LLM_BASE_URL") or env.get("OPENAI_BASE_URL")
                      or _get(llm, "base_url", str, None, "llm")),
            model=env.get("JOULELAB_LLM_MODEL") or _get(llm, "model", str, None, "llm"),
            api_key=api_key, api_key_env=api_key_env,
            allow_generated_code=_get(llm, "allow_generated_code", bool, False, "llm"),
            connect_timeout_s=float(_get(llm, "connect_timeout_s", float, 10.0, "llm", 0.01, 600)),
            first_byte_timeout_s=float(_get(llm, "first_byte_timeout_s", float, 15.0, "llm", 0.01, 3600)),
            stall_timeout_s=float(_get(llm, "stall_timeout_s", float, 15.0, "llm", 0.01, 3600)),
            timeout_s=_optional_float(llm, "timeout_s", 0.01),
            total_timeout_s=float(_get(llm, "total_timeout_s", float, 300.0, "llm", 0.01, 86400)),
            retries=_get(llm, "retries", int, 2, "llm", 0, 10),
            backoff_s=float(_get(llm, "backoff_s", float, 1.0, "llm", 0, 3600)),
            max_backoff_s=float(_get(llm, "max_backoff_s", float, 30.0, "llm", 0, 3600)),
            degraded_retry_s=float(_get(llm, "degraded_retry_s", float, 600.0, "llm", 0, 7 * 86400)),
            wait_notice_s=float(_get(llm, "wait_notice_s", float, 5.0, "llm", 0.05, 3600)),
            price_in_per_mtok=_price(llm, "price_in_per_mtok"),
            price_out_per_mtok=_price(llm, "price_out_per_mtok"),
            temperature=float(_get(llm, "temperature", float, 0.2, "llm", 0, 2)),
            sandbox=read_sandbox(sandbox),
        ),
    )


KEY_VARIABLES = ("JOULELAB_LLM_API_KEY", "OPENAI_API_KEY")  # read in this order unless [llm] api_key_env names one


def _api_key(llm: Mapping[str, JsonValue], env: Mapping[str, str]) -> tuple[str | None, str]:
    """The key and the variable it came from: `[llm] api_key_env` (the name of an environment
    variable; the key itself is never written in config.toml), else the first of KEY_VARIABLES set."""
    named = _get(llm, "api_key_env", str, None, "llm")
    if named is not None and not named.strip():
        raise SettingsError("llm.api_key_env must name an environment variable (such as OPENAI_API_KEY), got \"\"")
    for name in (named,) if named else KEY_VARIABLES:
        if env.get(name):
            return env[name], name
    return None, ""


def _optional_float(table: Mapping[str, JsonValue], key: str, minimum: float) -> float | None:
    value = _get(table, key, float, None, "llm", minimum)
    return None if value is None else float(value)


def _price(llm: Mapping[str, JsonValue], key: str) -> float | None:
    return _optional_float(llm, key, 0)


async def current_settings(store: Store, raw: Mapping[str, JsonValue],
                           env: Mapping[str, str] | None = None) -> ResearchSettings:
    """The settings now: config.toml read at the host's start, with the settings table over it."""
    # `lab research --background --profile/--backend` (and the control room) set these
    return load_settings(raw, await store.settings(), env)
