"""[executor] in config.toml, the choice of executor, and the environment rules every executor
shares (the Ray wrapper's regular expression says exactly what `is_secret` says)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from contract.layout import LabDir
from engine.config import ConfigError, ExecutorConfig, load_config
from engine.executors import LocalExecutor, make_executors
from engine.runenv import is_secret, run_environment, run_variables, secret_pattern


def _load(tmp_path: Path, text: str) -> ExecutorConfig:
    lab = LabDir(tmp_path)
    lab.ensure()
    lab.config.write_text(text)
    return load_config(lab).executor


def test_the_default_is_local_with_a_warm_worker(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == ExecutorConfig(kind="local", warm=True, warm_idle_s=300.0)
    assert _load(tmp_path, "[executor]\nwarm_idle_s = 2.5\n").warm_idle_s == 2.5
    lab = LabDir(tmp_path / "fresh")
    lab.ensure()  # the config.toml a new lab gets
    assert load_config(lab).executor.kind == "local" and load_config(lab).executor.warm


def test_a_ray_section_is_read(tmp_path: Path) -> None:
    config = _load(tmp_path, '[executor]\nkind = "ray"\naddress = "ray://head:10001"\nshared_dir = true\n'
                             'python = "/opt/py/bin/python"\nforward_env = ["PYTHONPATH"]\nreturn_max_mb = 16\n')
    assert config == ExecutorConfig(kind="ray", address="ray://head:10001", shared_dir=True,
                                    python="/opt/py/bin/python", forward_env=("PYTHONPATH",), return_max_mb=16)


@pytest.mark.parametrize("text, message", [
    ('kind = "slurm"', "executor.kind must be one of 'local', 'ray', got 'slurm'"),
    ("warm = 1", "executor.warm must be bool, got 1"),
    ("warm_idle_s = -1", "executor.warm_idle_s must be at least 0, got -1"),
    ('warm_idle_s = "5m"', "executor.warm_idle_s must be"),
    ('address = "somewhere"', "executor.address must be"),
    ('forward_env = "PATH"', "executor.forward_env must be a list of names"),
    ("return_max_mb = 0", "executor.return_max_mb must be at least 1"),
])
def test_bad_values_are_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f"[executor]\n{text}\n")
    assert message in str(caught.value) and str(caught.value).startswith(str(tmp_path / "config.toml"))
    assert "\n" not in str(caught.value)


def test_local_runs_are_watched_whichever_executor_starts_new_ones(tmp_path: Path) -> None:
    lab = LabDir(tmp_path)
    lab.ensure()
    config = load_config(lab)
    chosen, every = make_executors(config, "experiments", tmp_path)
    assert isinstance(chosen, LocalExecutor) and chosen.worker is not None and set(every) == {"local"}
    lab.config.write_text('[executor]\nkind = "ray"\naddress = "http://127.0.0.1:8265"\n')
    chosen, every = make_executors(load_config(lab), "experiments", tmp_path)
    assert chosen.name == "ray" and set(every) == {"local", "ray"}
    assert every["local"].worker is None  # type: ignore[attr-defined]  # no warm worker when runs go to Ray


NAMES = ["OPENAI_API_KEY", "HF_TOKEN", "aws_secret_access_key", "DB_PASSWORD", "MY_AUTH", "GITHUB_TOKEN",
         "PATH", "HOME", "PYTHONPATH", "OMP_NUM_THREADS", "LANG", "RAY_ADDRESS", "JOULELAB_CACHE",
         "TOKENIZERS_PARALLELISM", "KEYBOARD", "monkey"]


def test_the_wrappers_rule_is_the_engines_rule() -> None:
    rule = re.compile(secret_pattern(), re.IGNORECASE)
    assert [bool(rule.search(n)) for n in NAMES] == [is_secret(n) for n in NAMES]


def test_run_variables_for_each_kind_of_slot() -> None:
    cpu = run_variables(threads=2, cuda_device=None, cache_dir="/c")
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and cpu["OMP_NUM_THREADS"] == "2" and cpu["JOULELAB_CACHE"] == "/c"
    assert run_variables(threads=1, cuda_device=3, cache_dir="/c")["CUDA_VISIBLE_DEVICES"] == "3"
    # a Ray GPU job: Ray chooses the device and says so in CUDA_VISIBLE_DEVICES
    assert "CUDA_VISIBLE_DEVICES" not in run_variables(threads=1, cuda_device=None, cache_dir=None,
                                                       gpu_from_scheduler=True)
    env = run_environment({"OPENAI_API_KEY": "x", "PATH": "/bin", "TOKENIZERS_PARALLELISM": "true"},
                          threads=1, cuda_device=None, cache_dir="/c")
    assert "OPENAI_API_KEY" not in env and env["PATH"] == "/bin" and env["TOKENIZERS_PARALLELISM"] == "false"


def test_the_warm_worker_module_never_imports_the_lab() -> None:
    import experiments.remote
    import experiments.worker

    for module in (experiments.worker, experiments.remote):
        source = Path(module.__file__ or "").read_text()
        assert not re.search(r"^\s*(from|import) (db|engine|agents|tui)\b", source, re.MULTILINE)
    # importing them loads nothing heavy either (the worker imports what it is told to, later)
    code = ("import sys, experiments.worker, experiments.remote; "
            "print(sorted(m for m in ('torch','codecarbon') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
