"""The torch-free side: catalog, plan, parameter validation, help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from experiments.catalog import EXPERIMENTS
from experiments.cli import plan_json
from tests.experiments.helpers import REPO, cli, env

NINE = {"quantization", "pruning", "optimizers", "micro_architecture", "mixed_precision",
        "distillation", "checkpointing", "batch_size", "gradient_clipping"}


def test_catalog_json_shape() -> None:
    proc = cli("catalog", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["protocol"] == 1
    names = {e["name"] for e in data["experiments"]}
    assert "logreg" in names
    for e in data["experiments"]:
        for key in ("name", "title", "area", "gain_phase", "summary", "literature", "references",
                    "baseline", "metrics", "params", "deliverables"):
            assert key in e, (e["name"], key)
        assert e["gain_phase"] in ("training", "inference")
        # a size where the entry changes what is stored; meta-learning changes training only
        assert {"quality", "energy", "time"} <= set(e["metrics"]) and {"size", "memory"} & set(e["metrics"])
        assert set(e["metrics"]) <= {"quality", "energy", "time", "size", "memory", "stability"}
        assert e["references"] and len(e["literature"]) > 100
        pnames = {p["name"] for p in e["params"]}
        assert {"profile", "dataset", "device"} <= pnames
        for p in e["params"]:
            assert {"name", "type", "default", "help"} <= set(p)
            if p["type"] in ("choice",):
                assert p["default"] in p["choices"]
        kinds = {d["kind"] for d in e["deliverables"]}
        assert "contains_keys" in kinds
        plan = plan_json(e["name"], {})[1]
        assert e["baseline"] in [v["name"] for v in plan["variants"] if v["baseline"]]


def test_catalog_has_the_nine() -> None:
    assert NINE <= set(EXPERIMENTS)


def test_catalog_and_plan_do_not_import_torch() -> None:
    code = ("import sys, io, contextlib\n"
            "from experiments.cli import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    assert main(['catalog', '--json']) == 0\n"
            "    assert main(['list']) == 0\n"
            f"    for name in {sorted(EXPERIMENTS)!r}:\n"
            "        assert main(['plan', name, '--params', '{\"profile\": \"smoke\"}']) == 0\n"
            "heavy = [m for m in ('torch', 'numpy', 'codecarbon', 'sklearn') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_plan_fills_defaults_and_coerces() -> None:
    proc = cli("plan", "logreg", "--params", json.dumps({"epochs": "5", "lr": 1}))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] and out["name"] == "logreg"
    assert out["params"]["epochs"] == 5 and out["params"]["lr"] == 1.0
    assert out["params"]["profile"] == "default" and out["params"]["dataset"] == "digits"
    assert out["variants"] == [{"name": "baseline", "baseline": True, "depends_on": [],
                                "params": {"model": "logreg"}, "references": [], "objective": None,
                                "role": None}]
    assert out["headline"] is None and out["speedup_batch"] is None


@pytest.mark.parametrize("params,param,fragment", [
    ({"epochs": "ten"}, "epochs", "must be an integer between 0 and 1000, got 'ten'"),
    ({"epochs": 5000}, "epochs", "between 0 and 1000"),
    ({"lr": True}, "lr", "must be a number"),
    ({"dataset": "imagenet"}, "dataset", "must be one of"),
    ({"nope": 1}, "nope", "unknown parameter"),
])
def test_plan_rejects_bad_params(params: dict, param: str, fragment: str) -> None:
    proc = cli("plan", "logreg", "--params", json.dumps(params))
    assert proc.returncode == 2
    out = json.loads(proc.stdout)
    assert out["ok"] is False
    [err] = out["errors"]
    assert err["param"] == param and fragment in err["message"]
    assert "\n" not in err["message"]


def test_plan_reports_every_error_and_unknown_experiment() -> None:
    code, out = plan_json("logreg", {"epochs": -1, "lr": "fast"})
    assert code == 2 and {e["param"] for e in out["errors"]} == {"epochs", "lr"}
    proc = cli("plan", "nosuch", "--params", "{}")
    assert proc.returncode == 2
    out = json.loads(proc.stdout)
    assert out == {"ok": False, "errors": [{"param": None, "message": "unknown experiment 'nosuch'"}]}


def test_list_params_validated() -> None:
    exp = EXPERIMENTS["pruning"]
    code, out = plan_json("pruning", {"sparsities": [0.5, 1.5]})
    assert code == 2 and out["errors"][0]["param"] == "sparsities"
    assert "every item must be a number between 0" in out["errors"][0]["message"]
    assert exp.validate({"sparsities": "0.3,0.6"})["sparsities"] == [0.3, 0.6]


def test_local_try_rejects_bad_params_with_exit_2() -> None:
    proc = cli("logreg", "-p", "epochs=ten")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: epochs: must be an integer between 0 and 1000, got 'ten'"]
    proc = cli("logreg", "-p", "bogus=1")
    assert proc.returncode == 2 and "unknown parameter" in proc.stderr
    proc = cli("nosuch")
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown experiment")


def test_help_and_list_are_friendly() -> None:
    proc = cli("--help")
    assert proc.returncode == 0 and "python -m experiments list" in proc.stdout
    proc = cli("list")
    assert proc.returncode == 0 and "logreg" in proc.stdout


def test_every_plan_is_a_dag_with_one_baseline() -> None:
    for name, exp in EXPERIMENTS.items():
        variants = exp.plan(exp.validate({}))
        assert sum(v.baseline for v in variants) == 1, name
        seen: set[str] = set()
        for v in variants:
            assert set(v.depends_on) <= seen, (name, v.name)
            seen.add(v.name)


def test_experiments_never_import_the_lab() -> None:
    import ast
    forbidden = {"db", "engine", "agents", "tui"}
    for path in (REPO / "experiments").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in forbidden, f"{path}: imports {n}"
