"""Every deliverable kind is checked against real files and results, or refused at submission:
checkpoints (torch.save, legacy pickles, safetensors) and tokenizers judged loadable from their
format without the lab importing torch, expected values and contents, report sections."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agents import deliverables as dl
from agents import stats
from tests.timing import scaled

RESULT = {"test_accuracy": 0.91, "energy_kwh": 2e-6, "device": "cpu", "compression_ratio": 3.98}


def run(run_id: int, root: Path, variant: str = "baseline", status: str = "succeeded", **result: Any) -> dict[str, Any]:
    folder = root / str(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    return {"id": run_id, "variant": variant, "status": status, "run_dir": str(folder),
            "result": {**RESULT, **result} if status == "succeeded" else None}


def check(d: dict[str, Any], runs: list[dict[str, Any]], **ctx: Any) -> dict[str, Any]:
    assert dl.problems(d) == [], dl.problems(d)
    (out,) = dl.check_all([d], dl.Context(runs, "baseline", {"quality": "test_accuracy"}, **ctx))
    return out


def test_exists_by_path_glob_and_artifact(tmp_path: Path) -> None:
    runs = [run(1, tmp_path), run(2, tmp_path)]
    for r in runs:
        (Path(r["run_dir"]) / "spec.json").write_text("{}")
    (Path(runs[0]["run_dir"]) / "out").mkdir()
    (Path(runs[0]["run_dir"]) / "out" / "model-7.pt").write_bytes(b"x")
    assert check({"kind": "exists", "path": "spec.json"}, runs)["status"] == "passed"
    glob = check({"kind": "exists", "path": "out/*.pt"}, runs)
    assert glob["ok"] is False and "run 2: nothing matches out/*.pt" in glob["detail"]
    artifacts = {1: [{"path": "spec.json", "kind": "config"}]}
    art = check({"kind": "exists", "artifact_kind": "config"}, runs, artifacts=artifacts)
    assert art["ok"] is False and "run 2: no config artifact" in art["detail"]
    assert check({"kind": "exists", "artifact_kind": "config"}, runs[:1], artifacts=artifacts)["ok"] is True


def _write_checkpoints(folder: Path) -> None:
    """Real files of the formats, written by the libraries that own them (in a subprocess: torch
    stays out of the test process too)."""
    script = f"""
import json, torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers
f = {str(folder)!r}
state = {{"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}}
torch.save({{"arch": {{"kind": "mlp"}}, "state_dict": state}}, f + "/model.pt")
torch.save(state, f + "/legacy.pt", _use_new_zipfile_serialization=False)
save_file(state, f + "/model.safetensors")
tok = Tokenizer(models.WordLevel({{"[UNK]": 0, "energy": 1, "lab": 2}}, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
import os; os.makedirs(f + "/tok", exist_ok=True)
tok.save(f + "/tok/tokenizer.json")
json.dump({{"model_max_length": 64}}, open(f + "/tok/tokenizer_config.json", "w"))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=scaled(120))


def test_checkpoints_and_tokenizers_load_judged_from_their_format(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    _write_checkpoints(good)
    for name in ("model.pt", "legacy.pt", "model.safetensors", "tok/tokenizer.json", "tok"):
        assert dl.loadable(good / name) is None, name
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("model.pt", "legacy.pt", "model.safetensors"):
        data = (good / name).read_bytes()
        (bad / name).write_bytes(data[: len(data) // 2])  # a checkpoint cut off mid-write
    (bad / "random.pt").write_bytes(b"\x00\x01not a checkpoint" * 10)
    (bad / "tokenizer.json").write_text('{"version": "1.0"}')
    (bad / "empty.bin").write_bytes(b"")
    (bad / "emptydir").mkdir()
    for name in ("model.pt", "legacy.pt", "model.safetensors", "random.pt", "tokenizer.json", "empty.bin", "emptydir"):
        assert dl.loadable(bad / name) is not None, name
    judged = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                             "from agents.deliverables import loadable; "
                             f"print(loadable(Path({str(good / 'model.pt')!r})), 'torch' in sys.modules)"],
                            capture_output=True, text=True, timeout=scaled(60), cwd=Path(dl.__file__).parents[1])
    assert judged.stdout.split() == ["None", "False"], judged  # judged from the format, without torch

    runs = [run(1, tmp_path / "runs"), run(2, tmp_path / "runs")]
    for r, source in zip(runs, (good, bad)):
        for name in ("model.pt", "model.safetensors"):
            (Path(r["run_dir"]) / name).write_bytes((source / name).read_bytes())
    artifacts = {r["id"]: [{"path": "model.pt", "kind": "checkpoint"}] for r in runs}
    out = check({"kind": "exists_and_loadable", "artifact_kind": "checkpoint"}, runs, artifacts=artifacts)
    assert out["ok"] is False and out["detail"].startswith("run 2: model.pt not loadable")
    assert check({"kind": "exists_and_loadable", "path": "model.safetensors"}, runs[:1])["status"] == "passed"
    (Path(runs[0]["run_dir"]) / "tok").mkdir()
    (Path(runs[0]["run_dir"]) / "tok" / "tokenizer.json").write_bytes((good / "tok" / "tokenizer.json").read_bytes())
    assert check({"kind": "exists_and_loadable", "path": "tok"}, runs[:1])["ok"] is True


def test_matches_expected_values_and_contents(tmp_path: Path) -> None:
    runs = [run(1, tmp_path), run(2, tmp_path, compression_ratio=4.2)]
    within = check({"kind": "matches_expected", "key": "compression_ratio", "expected": 4.0, "tolerance": 0.05}, runs)
    assert within["ok"] is False and "1 of 2 run(s)" in within["detail"] and "runs 2 differ" in within["detail"]
    mean = check({"kind": "matches_expected", "key": "compression_ratio", "expected": 4.0, "rel_tolerance": 0.03,
                  "aggregate": "mean"}, runs)
    assert mean["ok"] is True and "mean compression_ratio 4.09" in mean["detail"]
    assert check({"kind": "matches_expected", "key": "device", "expected": "cpu"}, runs)["ok"] is True
    for r in runs:
        (Path(r["run_dir"]) / "labels.json").write_text(json.dumps({"classes": 10}))
    digest = hashlib.sha256(b'{"classes": 10}').hexdigest()
    assert check({"kind": "matches_expected", "path": "labels.json", "sha256": digest}, runs)["ok"] is True
    assert check({"kind": "matches_expected", "path": "labels.json", "expected": {"classes": 10}}, runs)["ok"] is True
    assert check({"kind": "matches_expected", "path": "labels.json", "expected": {"classes": 9}}, runs)["ok"] is False


def test_contains_sections_in_run_files_and_in_the_labs_report(tmp_path: Path) -> None:
    runs = [run(1, tmp_path)]
    (Path(runs[0]["run_dir"]) / "notes.md").write_text("# Notes\n\n## Method\ntext\n\nResults\n=======\n\nLimits:\n")
    ok = check({"kind": "contains_sections", "path": "notes.md", "sections": ["method", "Results", "Limits"]}, runs)
    assert ok["ok"] is True
    missing = check({"kind": "contains_sections", "path": "notes.md", "sections": ["Method", "Discussion"]}, runs)
    assert missing["ok"] is False and "lacks Discussion" in missing["detail"]
    d = {"kind": "contains_sections", "target": "report", "sections": ["Results"]}
    assert check(d, runs)["status"] == "not_checked"  # at rating time the report is not written yet
    report = tmp_path / "report.md"
    report.write_text("# Experiment 1\n\n## Results\n")
    assert check(d, runs, report=report)["status"] == "passed"


def test_contains_keys_threshold_and_statistical_test(tmp_path: Path) -> None:
    runs = [run(1, tmp_path, seed_value=1), run(2, tmp_path, variant="int8", test_accuracy=0.5),
            run(3, tmp_path, status="failed")]
    assert check({"kind": "contains_keys", "keys": ["test_accuracy", "energy_kwh"]}, runs)["ok"] is True
    lack = check({"kind": "contains_keys", "keys": ["latency_ms"]}, runs)
    assert lack["ok"] is False and "lack latency_ms" in lack["detail"]
    (Path(runs[0]["run_dir"]) / "metrics.json").write_text('{"a": 1}')
    assert check({"kind": "contains_keys", "keys": ["a"], "path": "metrics.json", "variant": "baseline"}, runs)["ok"]
    th = check({"kind": "threshold", "key": "test_accuracy", "op": ">=", "value": 0.9}, runs)
    assert th["ok"] is False and "int8 test_accuracy mean 0.5 >= 0.9 fails" in th["detail"]
    na = check({"kind": "threshold", "key": "test_accuracy", "value": 0.9, "variant": "fp16"}, runs)
    assert na["status"] == "not_applicable"
    st = check({"kind": "statistical_test", "expect": "less"}, runs)
    assert st["ok"] is False and "Welch (unpaired) p = n/a" in st["detail"]  # one seed each: no test


@pytest.mark.parametrize(("d", "expected"), [
    ({"kind": "magic"}, "unknown kind \"magic\": the lab checks exists, exists_and_loadable, matches_expected, "
                        "contains_sections, contains_keys, threshold, statistical_test"),
    ({"keys": ["a"]}, "unknown kind null"),
    ("exists", "expected an object with a 'kind'"),
    ({"kind": "exists"}, "needs `path` or `artifact_kind`"),
    ({"kind": "exists", "path": "../../etc/passwd"}, "must stay inside the run's folder"),
    ({"kind": "exists_and_loadable", "path": "/abs/model.pt"}, "must stay inside the run's folder"),
    ({"kind": "threshold", "key": "acc", "op": "~", "value": 1}, "op: expected one of"),
    ({"kind": "threshold", "key": "acc", "value": float("nan")}, "value: expected a finite number"),
    ({"kind": "contains_keys", "keys": []}, "keys: expected a non-empty list"),
    ({"kind": "contains_sections", "sections": ["A"]}, "needs `path`, `artifact_kind` or `target: \"report\"`"),
    ({"kind": "contains_sections", "sections": ["A"], "target": "paper"}, "target: only 'report'"),
    ({"kind": "matches_expected", "key": "x"}, "expected: the value the result should have is missing"),
    ({"kind": "matches_expected", "path": "a.json", "sha256": "xyz"}, "sha256: expected 64 hexadecimal digits"),
    ({"kind": "matches_expected", "path": "a.json"}, "needs `key` and `expected`"),
    ({"kind": "statistical_test", "alpha": 2}, "alpha: expected a number between 0 and 1"),
    ({"kind": "statistical_test", "expect": "bigger"}, "expect: expected one of"),
])
def test_a_deliverable_that_cannot_be_checked_is_refused(d: Any, expected: str) -> None:
    found = dl.problems(d)
    assert any(expected in p for p in found), found


def test_an_unknown_kind_already_recorded_says_not_checked(tmp_path: Path) -> None:
    (out,) = dl.check_all([{"kind": "vibes"}], dl.Context([run(1, tmp_path)], "baseline", {}))
    assert out["status"] == "not_checked" and out["ok"] is None and "the lab checks exists" in out["detail"]


def test_statistical_test_pairs_runs_by_seed(tmp_path: Path) -> None:
    """Seeds fix the split and the initialisation of every variant, so the deliverable pairs them
    as the validator does: a shift of 0.01 on every seed is significant paired, not unpaired."""
    base = [0.90, 0.95, 0.80, 0.85, 0.70]
    runs = []
    for seed, b in enumerate(base):
        runs.append({**run(2 * seed + 1, tmp_path, test_accuracy=b), "seed": seed})
        runs.append({**run(2 * seed + 2, tmp_path, variant="int8", test_accuracy=b - 0.01 - 0.001 * seed), "seed": seed})
    st = check({"kind": "statistical_test", "expect": "less"}, runs)
    assert st["ok"] is True and "paired t over seeds" in st["detail"], st
    values = [r["result"]["test_accuracy"] for r in runs]
    assert stats.welch(values[1::2], values[0::2]).p_value > 0.05  # the unpaired test misses it
