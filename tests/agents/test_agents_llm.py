"""The openai backend against a local chat-completions server that misbehaves on purpose:
streaming into the message row, 500s, 429 with Retry-After, invalid JSON, a wrong schema, a
stalled stream; token and cost accounting; the key kept out of the database."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from agents.dialogue import Dialogue
from agents.research_settings import load_settings
from tests.agents.support import FakeLLM

KEY = "sk-test-do-not-store-4242"
SCHEMA = {"type": "object", "required": ["choice", "why"],
          "properties": {"choice": {"type": "integer", "minimum": 0, "maximum": 2}, "why": {"type": "string"}}}


def settings(server: FakeLLM, **llm: Any) -> Any:
    raw = {"research": {"backend": "openai"},
           "llm": {"timeout_s": 0.5, "total_timeout_s": 20, "retries": 2, "backoff_s": 0.01,
                   "max_backoff_s": 2.0, **llm}}
    return load_settings(raw, env={"JOULELAB_LLM_BASE_URL": server.url, "JOULELAB_LLM_MODEL": "gpt-4o-mini",
                                   "JOULELAB_LLM_API_KEY": KEY})


async def notices(store: Any) -> list[str]:
    return [m.text for m in await store.messages() if m.agent == "lab" and m.kind == "notice"]


async def waits(store: Any) -> list[str]:
    """The retries and waits of the calls, as the dialogue showed them."""
    return [m.text for m in await store.messages() if m.agent == "lab" and m.kind == "wait"]


async def said(store: Any) -> list[str]:
    return [m.text for m in await store.messages() if m.agent != "lab"]


async def test_a_comment_streams_into_the_row_and_is_accounted(store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.script = [{"chunks": ["E of 2.41 ", "means the ", "int8 model ", "uses less ", "energy."],
                        "delay": 0.15, "usage": {"prompt_tokens": 1200, "completion_tokens": 300}}]
    dialogue = Dialogue(store, settings(fake_llm))
    task = asyncio.ensure_future(dialogue.say("validator", "int8-mlp: E = 2.41 (3 seeds)", kind="verdict",
                                              ask="Comment."))
    seen_partial = False
    while not task.done():
        rows = await store.messages()
        if rows and rows[-1].streaming and "\n\n" in rows[-1].text and not rows[-1].text.endswith("energy."):
            seen_partial = True
        await asyncio.sleep(0.05)
    msg_id = await task
    await dialogue.close()
    (row,) = [m for m in await store.messages() if m.id == msg_id]
    assert seen_partial, "the row did not grow while the tokens arrived"
    assert row.text == "int8-mlp: E = 2.41 (3 seeds)\n\nE of 2.41 means the int8 model uses less energy."
    assert (row.streaming, row.backend, row.tokens_in, row.tokens_out) == (0, "openai", 1200, 300)
    assert row.cost_usd == (1200 * 0.15 + 300 * 0.60) / 1e6
    request = fake_llm.requests[0]
    assert request["headers"]["Authorization"] == f"Bearer {KEY}" and request["body"]["stream"] is True


async def test_500s_then_success_and_429_honours_retry_after(store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.script = [{"status": 500}, {"status": 503}, {"content": "Fine."},
                       {"status": 429, "retry_after": "0.6"}, {"content": "Also fine."}]
    dialogue = Dialogue(store, settings(fake_llm))
    await dialogue.say("researcher", "first", ask="Comment.")
    started = time.monotonic()
    await dialogue.say("researcher", "second", ask="Comment.")
    waited = time.monotonic() - started
    await dialogue.close()
    assert await said(store) == ["first\n\nFine.", "second\n\nAlso fine."]
    shown = [re.match(r".*?(HTTP \d+)[ ,].* \((attempt \d of \d)\); (.*)$", w).groups()  # type: ignore[union-attr]
             for w in await waits(store)]
    assert "is limiting the lab's requests" in (await waits(store))[2]  # a 429 said in words
    assert shown == [("HTTP 500", "attempt 1 of 3", "trying again in 0.01 s"),
                     ("HTTP 503", "attempt 2 of 3", "trying again in 0.02 s"),
                     ("HTTP 429", "attempt 1 of 3", "trying again in 0.6 s")]
    assert len(fake_llm.requests) == 5 and waited >= 0.6
    gap = fake_llm.requests[4]["t"] - fake_llm.requests[3]["t"]
    assert gap >= 0.6, f"retried after {gap:.2f} s, before Retry-After"


async def test_invalid_json_is_retried_with_the_error(store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.script = [{"content": "I think option 1 is best"}, {"content": '{"choice": 1, "why": "cheapest"}'}]
    dialogue = Dialogue(store, settings(fake_llm))
    answer = await dialogue.decide("researcher", "Choose.", "0: a\n1: b", SCHEMA, dict)
    assert answer == {"choice": 1, "why": "cheapest"}
    second = fake_llm.requests[1]["body"]
    assert second["response_format"] == {"type": "json_object"}
    assert "not valid JSON" in second["messages"][-1]["content"]
    await dialogue.say("researcher", "chose 1")  # the tokens of both answers land on the next message
    row = (await store.messages())[-1]
    assert (row.tokens_in, row.tokens_out, row.backend) == (200, 40, "openai")
    await dialogue.close()


async def test_a_wrong_schema_falls_back_to_the_offline_decision(store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.default = lambda req: {"content": '{"choice": 7}'}
    dialogue = Dialogue(store, settings(fake_llm))
    assert await dialogue.decide("architect", "Plan.", "evidence", SCHEMA, dict) is None
    assert len(fake_llm.requests) == 3
    assert "maximum" not in fake_llm.requests[2]["body"]["messages"][-1]["content"]
    assert "$.choice: must be at most 2" in fake_llm.requests[2]["body"]["messages"][-1]["content"]
    (notice,) = await notices(store)
    assert "did not match the schema after 3 attempts" in notice and "architect decides offline" in notice
    assert dialogue.backend == "openai"  # the endpoint works; only this answer fell back
    await dialogue.close()


async def test_a_stalled_stream_falls_back_offline_and_says_so(store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.default = lambda req: {"content": "this never finishes", "stall": 2.0}
    dialogue = Dialogue(store, settings(fake_llm, retries=1))
    msg = await dialogue.say("validator", "rated 6/10 from the numbers", ask="Comment.")
    row = next(m for m in await store.messages() if m.id == msg)
    assert (row.text, row.streaming, row.backend) == ("rated 6/10 from the numbers", 0, "offline")
    (notice,) = await notices(store)
    assert "stalled" in notice and "continues on the offline backend" in notice and KEY not in notice
    assert dialogue.backend == "offline"
    calls = len(fake_llm.requests)
    await dialogue.say("validator", "next", ask="Comment.")
    assert len(fake_llm.requests) == calls == 2  # once fallen back, the sprint stays offline


async def test_errors_invalid_bodies_and_ungrounded_numbers(store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.script = [{"raw": "<html>gateway</html>"}, {"content": "Accuracy was 97.3 %, a solid 9/10."},
                       {"status": 401, "message": f"bad key {KEY}"}]
    dialogue = Dialogue(store, settings(fake_llm))
    msg = await dialogue.say("validator", "test_accuracy 96.2 % over 3 seeds", ask="Comment.")
    row = next(m for m in await store.messages() if m.id == msg)
    assert "withheld" in row.text and "97.3" in row.text and row.text.startswith("test_accuracy 96.2 %")
    assert len(fake_llm.requests) == 2  # the body that was not a completion was retried
    assert await dialogue.decide("researcher", "Choose.", "e", SCHEMA, dict) is None
    assert len(fake_llm.requests) == 3  # 401 is not retried
    (notice,) = await notices(store)
    assert "HTTP 401" in notice and KEY not in notice and "[key]" in notice
    await dialogue.close()


async def test_the_llm_budget_stops_model_calls(store: Any, fake_llm: FakeLLM) -> None:
    await store.add_message("researcher", "earlier", cost_usd=1.5, backend="openai")
    dialogue = Dialogue(store, settings(fake_llm))
    await dialogue.say("researcher", "offline now", ask="Comment.")
    assert not fake_llm.requests and dialogue.backend == "offline"
    assert "LLM budget of $1.00 per day is used up" in (await notices(store))[0]


async def test_the_key_is_never_written_to_the_database(store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.script = [{"status": 400, "message": f"echo {KEY}"}]
    dialogue = Dialogue(store, settings(fake_llm))
    await dialogue.say("coder", "spec", ask="Comment.")
    await dialogue.close()
    dump = json.dumps([[m.to_dict() for m in await store.messages()], [e.to_dict() for e in await store.events_after(0)],
                       await store.settings()], default=str)
    assert KEY not in dump and "HTTP 400" in dump
    for path in (store.path, store.path.with_name("lab.db-wal")):
        assert not path.exists() or KEY not in path.read_bytes().decode("latin-1")
