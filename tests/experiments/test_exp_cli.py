"""The torch-free side: catalog, plan, parameter validation, help."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from contract.protocol import PROTOCOL
from experiments.catalog import EXPERIMENTS
from experiments.command_line import plan_json
from tests.experiments.helpers import REPO, cli, env

NINE = {"quantization", "pruning", "optimizers", "micro_architecture", "mixed_precision",
        "distillation", "checkpointing", "batch_size", "gradient_clipping"}


def test_catalog_json_shape() -> None:
    proc = cli("catalog", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["protocol"] == PROTOCOL
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
    assert set(EXPERIMENTS) >= NINE


def test_catalog_and_plan_do_not_import_torch() -> None:
    code = ("import sys, io, contextlib\n"
            "from experiments.command_line import main\n"
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
    forbidden = {"db", "engine", "science", "agents", "records", "tui", "cli"}
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


@pytest.mark.parametrize("asked,variants,headline", [
    (["lion"], ["adam", "lion"], "lion"),
    (["sgd", "momentum"], ["adam", "sgd", "momentum"], "sgd"),
    (["adam"], ["adam"], None),
])
def test_optimizers_narrowed_to_some_keeps_adam_as_the_baseline(asked: list[str], variants: list[str],
                                                                 headline: str | None) -> None:
    """`lab run optimizers -p optimizers=lion` once ended with an IndexError (issue 22)."""
    proc = cli("plan", "optimizers", "--params", json.dumps({"optimizers": asked}))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [v["name"] for v in out["variants"]] == variants and out["variants"][0]["baseline"]
    assert out["headline"] == headline
    if headline == "lion":
        assert out["variants"][1]["references"] == ["adam"]


def test_the_validators_focus_on_one_optimizer_plans() -> None:
    """The follow-up that repeats one variant narrows `optimizers` to it: its plan must still compare."""
    from science.followups import focus

    exp = EXPERIMENTS["optimizers"]
    values = exp.validate({"profile": "smoke"})
    lion = next(v for v in exp.plan(values) if v.name == "lion")
    declared = {p.name: p for p in exp.params}
    changes = focus(lion.params, values, declared)
    assert changes == {"optimizers": ["lion"]}
    code, out = plan_json("optimizers", {**values, **changes})
    assert code == 0 and [v["name"] for v in out["variants"]] == ["adam", "lion"] and out["headline"] == "lion"


def test_a_grid_is_extended_while_its_choice_sits_on_an_edge() -> None:
    from experiments.harness.grids import beyond, edge, search

    assert edge([0.1, 0.3, 1.0], 1.0) == "high" and edge([0.1, 0.3, 1.0], 0.1) == "low"
    assert edge([0.1, 0.3, 1.0], 0.3) is None and edge([0.3], 0.3) is None
    assert beyond([3e-5, 1e-4, 3e-4], "high") == pytest.approx(9e-4)  # the grid's outer ratio, log-spaced
    assert beyond([0.1, 0.3], "low") == pytest.approx(0.0333333, rel=1e-5)
    assert beyond([1.0, 3.0], "high", hi=3.0) is None  # the declared range allows nothing new

    def score(lr: float) -> float:  # validation score peaking at lr = 1.0
        return -abs(math.log10(lr))

    def pick(results: list[float]) -> int:
        return max(range(len(results)), key=lambda i: results[i])

    found = search("lr", [0.001, 0.01, 0.1], score, pick, extensions=5)
    assert found.value == 1.0 and found.edge is None
    assert found.extended == [1.0, 10.0]  # until one lies beyond the optimum
    short = search("lr", [0.001, 0.01, 0.1], score, pick, extensions=1)
    assert short.edge == "high" and short.edge_note() == (
        "lr 1 is the largest value tried ([0.001, 0.01, 0.1, 1.0], after 1 extension(s))")
    assert search("lr", [0.001, 0.01, 0.1], score, pick, extensions=0).extended == []
