"""Settings, budgets and who approves; keeping a model's numbers honest; answer schemas."""

from __future__ import annotations

import time
from typing import Any

import pytest

from agents.approval import decide
from agents.budgets import budget_use, day_start
from agents.grounding import ungrounded
from agents.llm import schema
from agents.llm.client import retry_after_s
from agents.llm.prices import cost_usd
from agents.proposals import approval_for
from agents.research_settings import Budgets, SettingsError, current_settings, load_settings
from contract import requests as rq
from db import ExperimentState as E
from db import LabSettings, NewExperiment, RunDefaults

ENV = {"JOULELAB_LLM_BASE_URL": "http://127.0.0.1:1/v1", "JOULELAB_LLM_MODEL": "m", "JOULELAB_LLM_API_KEY": "sk-x"}


def test_settings_from_config_environment_and_overrides() -> None:
    raw = {"research": {"autonomy": 2, "profile": "smoke", "catalog": ["pruning"], "seeds": 4},
           "budgets": {"experiments_per_hour": 3, "kwh_per_day": 0.5},
           "llm": {"model": "from-config", "allow_generated_code": True, "sandbox": {"cpu_s": 30}}}
    s = load_settings(raw, LabSettings(autonomy=3, research=True), ENV)
    assert (s.autonomy, s.background, s.profile, s.catalog, s.seeds) == (3, True, "smoke", ("pruning",), 4)
    assert s.budgets == Budgets(3, 0.5, 1.0)
    assert s.llm.model == "m" and s.llm.base_url == "http://127.0.0.1:1/v1" and s.llm.sandbox.cpu_s == 30
    assert "sk-x" not in repr(s)  # the key never shows in a repr, a log line or an error
    assert load_settings({}, env={"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "u"}).llm.api_key == "k"
    assert load_settings({}, env={}).llm.missing().startswith("the openai backend needs an endpoint")
    one = s.with_overrides(autonomy=1, profile="full", backend="openai")
    assert (one.autonomy, one.profile, one.backend) == (1, "full", "openai")


@pytest.mark.parametrize("raw, message", [
    ({"research": {"autonomy": 4}}, "autonomy must be one of 1, 2, 3"),
    ({"research": {"backend": "claude"}}, "research.backend must be one of offline, openai"),
    ({"research": {"seeds": 0}}, "research.seeds must be at least 1"),
    ({"research": {"catalog": "pruning"}}, "research.catalog must be a list"),
    ({"budgets": {"kwh_per_day": "lots"}}, "budgets.kwh_per_day must be"),
    ({"budgets": {"experiments_per_hour": True}}, "budgets.experiments_per_hour must be a number"),
])
def test_bad_settings_are_one_line_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(raw, env={})


def test_autonomy_levels_and_budgets_decide_approval() -> None:
    assert not decide(1, follow_up_of_approved=True, over_budget=[]).approve
    assert not decide(2, follow_up_of_approved=False, over_budget=[]).approve
    assert decide(2, follow_up_of_approved=True, over_budget=[]).approve
    assert decide(3, follow_up_of_approved=False, over_budget=[]).approve
    waits = decide(3, follow_up_of_approved=True, over_budget=["6 of 6 experiments"])
    assert not waits.approve and "over budget" in waits.reason and "6 of 6" in waits.reason


async def _experiment(store: Any, approved: bool) -> int:
    new = NewExperiment(name="x", catalog="fake", params={}, plan=[{"name": "b", "baseline": True}])
    return await store.create_experiment(new, status=E.APPROVED if approved else E.AWAITING_APPROVAL,
                                         run_defaults=RunDefaults())


async def test_budgets_count_approvals_pending_requests_energy_and_llm_spend(store: Any) -> None:
    limits = Budgets(experiments_per_hour=2, kwh_per_day=1e-3, llm_usd_per_day=0.01)
    settings = load_settings({"research": {"autonomy": 3}, "budgets": {"experiments_per_hour": 2,
                             "kwh_per_day": 1e-3, "llm_usd_per_day": 0.01}}, env={})
    assert (await approval_for(store, settings, parent=None, estimate_kwh=None)).approve
    await _experiment(store, approved=True)
    waiting = await _experiment(store, approved=False)
    await store.add_request("approve", target_id=waiting, origin="agents")  # asked, not yet carried out
    use = await budget_use(store, limits)
    assert use.experiments_last_hour == 2
    assert "2 of 2 experiments already approved in the last hour" in use.over()[0]
    decision = await approval_for(store, settings, parent=None, estimate_kwh=None)
    assert not decision.approve and "over budget" in decision.reason
    await store.add_message("researcher", "x", cost_usd=0.02, tokens_in=10)
    assert any("LLM spend" in r for r in (await budget_use(store, limits)).over())
    assert use.describe().startswith("2/2 experiments this hour")
    assert use.over(estimate_kwh=2e-3)[-1].endswith("per day") and day_start() <= time.time()


async def test_runtime_overrides_come_from_the_settings_table(store: Any) -> None:
    await store.set_setting("autonomy", 3)
    await store.set_setting("research", True)
    s = await current_settings(store, {"research": {"autonomy": 1, "background": False}}, env={})
    assert s.autonomy == 3 and s.background is True
    await store.set_setting("research_profile", "smoke")
    await store.set_setting("research_backend", "offline")
    s = await current_settings(store, {"research": {"profile": "full", "backend": "openai"}}, env={})
    assert s.profile == "smoke" and s.backend == "offline"  # `lab research --background --profile smoke`
    with pytest.raises(rq.InvalidRequestError, match="research_profile must be one of smoke, default, full, got 'tiny'"):
        rq.make(rq.Setting("research_profile", "tiny"))


def test_a_models_numbers_must_come_from_the_evidence() -> None:
    evidence = "int8-mlp: E = 2.41, speedup 1.80x, test_accuracy 0.962 (95 % CI 0.95..0.97) over 3 seeds"
    assert ungrounded("E of 2.4 with 96.2 % accuracy over 3 seeds at 1.8x", evidence) == []
    assert ungrounded("a rating of 9 and accuracy 97.3 %", evidence) == ["9", "97.3"]
    # a code digest whose digits read as an overflowing exponent (4e512: infinite) grounds nothing
    assert ungrounded("Pruning saves 9876.5 % of the energy.", evidence + ", code 0c4e512f9a") == ["9876.5"]


def test_answer_schema_checks() -> None:
    s = {"type": "object", "required": ["choice", "why"], "additionalProperties": False,
         "properties": {"choice": {"type": "integer", "minimum": 0, "maximum": 2},
                        "why": {"type": "string", "minLength": 3}, "tags": {"type": "array", "items": {"type": "string"}}}}
    assert schema.errors({"choice": 1, "why": "because"}, s) == []
    problems = schema.errors({"choice": 5, "why": "x", "tags": [1], "extra": True}, s)
    assert len(problems) == 4 and any("at most 2" in p for p in problems)
    assert schema.errors({"choice": True, "why": "abc"}, s) == ["$.choice: expected integer, got true"]
    assert schema.parse('```json\n{"a": 1}\n```') == {"a": 1}
    with pytest.raises(ValueError):
        schema.parse("not json")


def test_retry_after_and_prices() -> None:
    assert retry_after_s("2") == 2.0 and retry_after_s(None) is None and retry_after_s("soon") is None
    assert 9 <= retry_after_s("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) <= 11
    assert cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd("llama3.1", 1000, 1000) == 0.0 and cost_usd("x", 1e6, 0, price_in=2.0) == 2.0
