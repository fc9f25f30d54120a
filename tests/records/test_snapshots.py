"""Environment and data snapshots (issue 25): every record holds a container recipe pinning the
runs' exact packages (CPU or CUDA torch as used) and each run's data versions (sha256 and source);
`lab show` prints them, `lab diff` compares them, `lab reproduce` refuses, with both hashes, when a
dataset file changed since the record."""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from db import Run
from records import snapshot
from tests import rows
from tests.conftest import LabHarness
from tests.timing import scaled

TEXT = "\n\n".join(f"Line {i}: the quick brown fox jumps over the lazy dog, again and again." for i in range(80))


def _runs(device: str = "cpu") -> list[Run]:
    versions = {"python": platform.python_version(), "torch": md.version("torch"), "transformers": md.version("transformers")}
    return [rows.run(id=1, device=device, result={"versions": versions})]


def test_the_recipe_pins_the_runs_packages_and_their_torch_build() -> None:
    snap = snapshot.take(_runs())
    assert snap.python == platform.python_version() and snap.accelerator == "cpu" and snap.cuda is None
    assert snap.torch == md.version("torch").split("+")[0] and snap.torch_index.endswith("/whl/cpu")
    pins = dict(line.split("==") for line in snapshot.requirements(snap).splitlines())
    for name in ("transformers", "peft", "numpy", "scipy", "tokenizers", "safetensors", "matplotlib", "psutil"):
        assert pins[name] == md.version(name), name  # the exact installed version, not a range
    assert "torch" not in pins and not any(n.startswith("nvidia-") for n in pins)  # a CPU image has no CUDA
    assert "textual" not in pins and "wandb" not in pins  # the control room is not part of a run
    docker = snapshot.dockerfile(snap, rows.experiment(id=4, name="ft", catalog="finetune"))
    assert f"FROM python:{platform.python_version()}-slim" in docker
    assert f"RUN pip install --index-url https://download.pytorch.org/whl/cpu torch=={snap.torch}" in docker
    assert "COPY code/experiments/ /joulelab/experiments/" in docker
    tracked = snapshot.take([rows.run(id=1, device="cpu", result={"versions": {}, "wandb_run_id": "x"})])
    assert any(p.name == "wandb" for p in tracked.packages)
    gpu = snapshot.EnvSnapshot(snap.python, snap.torch, "cuda", "12.8", ())
    assert gpu.torch_index == "https://download.pytorch.org/whl/cu128"
    assert snapshot.differences(snap, gpu)[:1] == [("torch build", "cpu", "cuda CUDA 12.8")]


def _docker_works() -> str | None:
    if shutil.which("docker") is None:
        return "no container engine here: the docker command is not installed"
    done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=scaled(30))
    if done.returncode != 0:
        return f"no container engine here: `docker info` fails ({(done.stderr.strip().splitlines() or ['?'])[-1][:120]})"
    return None


def test_the_recipe_builds_where_a_container_engine_exists(tmp_path: Path) -> None:
    why = _docker_works()
    if why is not None:
        pytest.skip(why)
    from contract import codesnap

    files = {**snapshot.files(_runs(), rows.experiment(id=1, name="t", catalog="logreg")),
             **{f"code/{k}": v for k, v in codesnap.source_files("experiments").items()}}
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    built = subprocess.run(["docker", "build", "-f", "environment/Dockerfile", "-t", "joulelab-snapshot-test", "."],
                           cwd=tmp_path, capture_output=True, text=True, timeout=scaled(1800))
    assert built.returncode == 0, built.stderr[-3000:]
    listed = subprocess.run(["docker", "run", "--rm", "joulelab-snapshot-test"], capture_output=True, text=True,
                            timeout=scaled(300))
    assert listed.returncode == 0 and "logreg" in listed.stdout, listed


def test_a_record_holds_its_snapshots_and_reproduce_refuses_changed_data(lab: LabHarness, tmp_path: Path,
                                                                         tiny_model: Path) -> None:
    lab.env["JOULELAB_EXPERIMENTS_MODULE"] = "experiments"
    data = tmp_path / "corpus.txt"
    data.write_text(TEXT)
    exp_id = lab.submit("finetune", "profile=smoke", f"model_name={tiny_model}", f"data={data}")
    assert lab.wait_experiment(exp_id, timeout=600)["status"] == "done", lab.experiment(exp_id)["error"]
    lab.wait_for(lambda: lab.experiment(exp_id)["git_sha"], 120, "the record")
    folder = next((lab.root / "exp").glob(f"{exp_id}-*"))
    digest = __import__("hashlib").sha256(data.read_bytes()).hexdigest()
    versions = json.loads((folder / "data_versions.json").read_text())
    assert {v["sha256"] for vs in versions.values() for v in vs} == {digest}
    assert all(v["source"] == "user" and v["path"] == str(data) for vs in versions.values() for v in vs)
    recorded = snapshot.read(folder)
    assert recorded is not None and recorded.accelerator == "cpu"
    assert f"torch=={recorded.torch}" in (folder / "environment" / "Dockerfile").read_text()
    assert (folder / "environment" / "contract" / "params.py").is_file()
    shown = lab.lab("show", str(exp_id), check=True).stdout
    assert f"data: corpus.txt (user, {data}): sha256 {digest[:16]} in 2 run(s)" in shown
    assert f"environment: Python {recorded.python}, torch {recorded.torch} (CPU wheel)" in shown
    payload = json.loads(lab.lab("show", str(exp_id), "--results-json", check=True).stdout)
    assert payload["validation_results"]["data_integrity_checks_passed"] is True

    data.write_text(TEXT + "\n\nOne more line.")
    now = __import__("hashlib").sha256(data.read_bytes()).hexdigest()
    refused = lab.lab("reproduce", str(exp_id), "--no-wait")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused
    assert f"corpus.txt: {data} changed: recorded sha256 {digest}, now {now}" in refused.stderr
    assert len(lab.query("SELECT id FROM experiments")) == 1
    payload = json.loads(lab.lab("show", str(exp_id), "--results-json", check=True).stdout)
    assert payload["validation_results"]["data_integrity_checks_passed"] is False
    assert any("changed" in line for line in payload["validation_results"]["checks"])

    again = lab.lab("reproduce", str(exp_id), "--no-wait", "--data-changed-ok", check=True)
    assert "the data changed since the record, run anyway" in again.stdout
    child = exp_id + 1
    assert lab.wait_experiment(child, timeout=600)["status"] == "done", lab.experiment(child)["error"]
    diff = lab.lab("diff", str(exp_id), str(child), check=True).stdout
    assert f"corpus.txt: sha256 {digest[:16]} -> {now[:16]}" in diff and "environment: the same packages" in diff
    as_json = json.loads(lab.lab("diff", str(exp_id), str(child), "--json", check=True).stdout)
    assert as_json["data"] == [{"dataset": "corpus.txt", "a": digest[:16], "b": now[:16]}]

