"""Bad input to the team's commands: one line, exit code 2, no traceback. And the rooms: the agents
use only the database (and stdlib, httpx, scipy, numpy); the engine's side of research stays light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from science.rubric import RUBRIC
from tests.agents.support import research_config
from tests.conftest import LabHarness
from tests.timing import scaled

ROOT = Path(__file__).resolve().parents[2]


def one_line_error(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert text in done.stderr


@pytest.mark.parametrize("args, text", [
    (["rating", "42"], "no experiment with id 42"),
    (["findings", "--experiment", "42"], "no experiment with id 42"),
    (["findings", "--limit", "0"], "--limit: expected a positive number"),
    (["sprint", "--experiment", "nope"], "unknown experiment 'nope'"),
    (["sprint", "--autonomy", "4"], "invalid choice: 4"),
    (["sprint", "--backend", "gpt"], "invalid choice: 'gpt'"),
    (["sprint", "--backend", "openai"], "the openai backend needs an endpoint"),
    (["research", "--sprints", "0"], "--sprints: expected a positive number"),
    (["research", "--background", "--off"], "not allowed with argument"),
    (["research", "--off", "--profile", "smoke"], "--profile: background research is being switched off"),
    (["research", "--background", "--backend", "openai"], "the openai backend needs an endpoint"),
])
def test_bad_input_is_one_line_and_exit_2(lab: LabHarness, args: list[str], text: str) -> None:
    for name in ("JOULELAB_LLM_BASE_URL", "OPENAI_BASE_URL", "JOULELAB_LLM_MODEL"):
        lab.env.pop(name, None)
    lab.write_config(research_config())
    one_line_error(lab.lab(*args), 2, text)


def test_a_bad_research_setting_is_named(lab: LabHarness) -> None:
    lab.write_config(research_config().replace("autonomy = 3", "autonomy = 7"))
    one_line_error(lab.lab("sprint"), 2, "autonomy must be one of 1, 2, 3, got 7")
    lab.write_config(research_config(catalog=["fake", "nothing"]))
    done = lab.lab("sprint")
    one_line_error(done, 2, "research.catalog names nothing, which the catalog does not have")


def test_rating_of_an_unrated_experiment_and_the_validator_command(lab: LabHarness) -> None:
    lab.write_config(research_config(autonomy=1, catalog=["fake"]))
    lab.lab("sprint", check=True, timeout=90)
    one_line_error(lab.lab("rating", "1"), 1, "experiment 1 has no rating yet (it is awaiting_approval")
    assert lab.lab("findings", check=True).stdout.startswith("no findings yet")
    validate = [sys.executable, "-m", "agents", "validate"]
    for args, code, text in ((["1", "--dir", str(lab.root)], 2, "experiment 1 is awaiting_approval"),
                             (["9", "--dir", str(lab.root)], 2, "no experiment with id 9"),
                             (["x", "--dir", str(lab.root)], 2, "invalid int value"),
                             (["1", "--dir", str(lab.root / "nowhere")], 2, "no lab at")):
        one_line_error(subprocess.run(validate + args, env=lab.env, capture_output=True, text=True, timeout=scaled(60)),
                       code, text)
    out = json.loads(lab.lab("sprint", "--json", "--autonomy", "1", check=True, timeout=90).stdout)
    assert out["stage"] == "idle" and out["experiment_id"] is None  # fake is proposed already: nothing left
    # asked for by name, the same design again (issue 22): refused with the reason, nothing proposed
    out = json.loads(lab.lab("sprint", "--json", "--experiment", "fake", "--autonomy", "1", check=True,
                             timeout=90).stdout)
    assert out["stage"] == "idle" and out["experiment_id"] is None
    assert "experiment 1 already is this design (fake, the same parameters and 3 seeds)" in out["note"]
    assert lab.query("SELECT COUNT(*) AS n FROM experiments")[0]["n"] == 1


def test_background_research_takes_its_profile_and_backend(lab: LabHarness) -> None:
    """`lab research --background --profile smoke` once accepted and ignored the profile (issue 22)."""
    lab.write_config(research_config(autonomy=1, catalog=["fake"], profile="default"))
    done = lab.lab("research", "--background", "--profile", "smoke", "--backend", "offline", check=True, timeout=90)
    assert "research_profile = smoke" in done.stdout and "research_backend = offline" in done.stdout
    settings = {r["key"]: json.loads(r["value"]) for r in lab.query("SELECT key, value FROM settings")}
    assert settings["research_profile"] == "smoke" and settings["research"] is True
    exp = lab.wait_for(lambda: lab.query("SELECT * FROM experiments"), 60, "the engine's sprint to propose")[0]
    assert json.loads(exp["params"])["profile"] == "smoke"  # config.toml says default: the flag acted
    lab.lab("research", "--off", check=True)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_agents_and_the_science_import_only_the_database_and_their_libraries() -> None:
    # matplotlib: the reports, drawn in their own process (never in the engine); wandb: the optional
    # extra, imported inside science/wandb_runs.py's functions only when a job's deliverable asks for W&B
    allowed = set(sys.stdlib_module_names) | {"contract", "db", "science", "agents", "httpx", "scipy", "numpy",
                                              "matplotlib", "wandb"}
    for path in sorted([*(ROOT / "agents").rglob("*.py"), *(ROOT / "science").rglob("*.py")]):
        extra = _imports(path) - allowed
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}"


def test_the_engines_side_of_research_loads_no_heavy_library() -> None:
    code = ("import sys, engine.daemon, engine.hooks, engine.research, agents.sprint, agents.dialogue, "
            "agents.research_settings\nprint(sorted(m for m in ('scipy', 'numpy', 'httpx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=scaled(60))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_rubric_is_published() -> None:
    doc = (ROOT / "docs" / "AGENTS.md").read_text()
    for criterion in RUBRIC:
        assert f"`{criterion.id}`" in doc and criterion.label in doc, criterion.id
