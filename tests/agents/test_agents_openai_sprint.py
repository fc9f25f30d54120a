"""A sprint on the openai backend through the `lab` command: the model's choices and comments
land in the dialogue with their tokens; a failing endpoint leaves the sprint to the offline
backend, and the dialogue says so; the key stays in the environment."""

from __future__ import annotations

import json
from typing import Any

from tests.agents.support import FakeLLM, research_config
from tests.conftest import LabHarness

KEY = "sk-sprint-secret-777"
LLM = """
[llm]
retries = 1
backoff_s = 0.05
timeout_s = 5
"""


def team_answers(request: dict[str, Any]) -> dict[str, Any]:
    body = request["body"]
    system = body["messages"][0]["content"]
    if body.get("response_format"):
        if system.startswith("You are the researcher"):
            return {"content": json.dumps({"choice": 0, "hypothesis": "The fake program is a fair baseline for "
                                           "the lab's later comparisons.",
                                           "research_question": "How noisy is the fake baseline across seeds?"})}
        return {"content": json.dumps({"changes": {}, "rationale": "the catalog defaults fit the question"})}
    return {"content": "A sensible first step for the lab.", "usage": {"prompt_tokens": 50, "completion_tokens": 9}}


def with_model(lab: LabHarness, server: FakeLLM) -> None:
    lab.env.update(JOULELAB_LLM_BASE_URL=server.url, JOULELAB_LLM_MODEL="gpt-4o-mini", JOULELAB_LLM_API_KEY=KEY)


def test_the_model_chooses_and_comments_with_its_tokens_accounted(lab: LabHarness, fake_llm: FakeLLM) -> None:
    lab.write_config(research_config(autonomy=1, catalog=["fake", "dag"], extra=LLM))
    fake_llm.default = team_answers
    with_model(lab, fake_llm)
    done = lab.lab("sprint", "--backend", "openai", check=True, timeout=90)
    assert "A sensible first step for the lab." in done.stdout
    exp = lab.experiment(1)
    assert exp["hypothesis"].startswith("The fake program is a fair baseline")
    proposal = lab.query("SELECT * FROM messages WHERE kind = 'proposal'")[0]
    assert proposal["backend"] == "openai" and proposal["tokens_in"] >= 100 and proposal["cost_usd"] > 0
    assert proposal["streaming"] == 0 and proposal["experiment_id"] == 1
    kinds = [r["body"].get("response_format") for r in fake_llm.requests]
    assert {"type": "json_object"} in kinds and None in kinds  # JSON decisions and streamed comments
    for path in (lab.root / "config.toml", lab.root / "lab.db", lab.root / "engine.log"):
        assert KEY not in path.read_bytes().decode("latin-1")
    assert json.loads(exp["metadata"])["research"]["backend"] == "openai"


def test_a_failing_endpoint_leaves_the_sprint_to_the_offline_backend(lab: LabHarness, fake_llm: FakeLLM) -> None:
    lab.write_config(research_config(autonomy=1, catalog=["fake"], extra=LLM))
    fake_llm.default = lambda req: {"status": 500, "message": "model overloaded"}
    with_model(lab, fake_llm)
    done = lab.lab("sprint", "--backend", "openai", check=True, timeout=90)
    assert "awaiting_approval (experiment 1)" in done.stdout
    notice = lab.query("SELECT * FROM messages WHERE agent = 'lab' AND kind = 'notice' ORDER BY id")[0]
    assert "HTTP 500" in notice["text"] and "continues on the offline backend" in notice["text"]
    said = lab.query("SELECT agent, kind, backend FROM messages WHERE agent != 'lab' ORDER BY id")
    assert [(m["agent"], m["kind"]) for m in said] == [("researcher", "proposal"), ("architect", "plan"),
                                                       ("coder", "spec")]
    assert all(m["backend"] == "offline" for m in said)
    assert len(fake_llm.requests) == 2  # one call and its retry, then no more for the rest of the sprint
