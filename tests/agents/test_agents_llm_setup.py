"""Failures that say what to do, against a local OpenAI-protocol server on 127.0.0.1: a refused
key (HTTP 401/403) is a set-up mistake said in words, with no lockout, so a fixed key is used at
once; `lab llm check` tries the model now and ends a degraded state; `lab status` has the
model's line; a refused connection and a 429 are one line in words."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from agents.llm.client import ChatClient, LlmError, provider_message
from agents.llm.endpoint import brief_reason
from agents.research_settings import load_settings
from db import Store
from tests.agents.support import FakeLLM, research_config
from tests.conftest import LabHarness

GOOD = "good-key"
LLM_FAST = """
[llm]
first_byte_timeout_s = 2
wait_notice_s = 1
retries = 2
backoff_s = 0.05
degraded_retry_s = 600
"""


def key_checking(req: dict[str, Any]) -> dict[str, Any]:
    """The provider: answers the good key, refuses any other (as OpenAI does, in its JSON)."""
    if req["headers"].get("Authorization") == f"Bearer {GOOD}":
        return {"content": "Noted."}
    return {"status": 401, "message": "Incorrect API key provided: wr***ey. You can find your API key at "
                                      "https://platform.openai.com/account/api-keys."}


def host(server: FakeLLM) -> str:
    return f"tiny-model at 127.0.0.1:{server.server.server_address[1]}"


def use_model(lab: LabHarness, server: FakeLLM, key: str) -> None:
    lab.env.update(JOULELAB_LLM_BASE_URL=server.url, JOULELAB_LLM_MODEL="tiny-model", JOULELAB_LLM_API_KEY=key)
    lab.env.pop("OPENAI_API_KEY", None)


def openai_config(extra: str = "") -> str:
    return research_config(autonomy=1, catalog=["fake", "dag"], extra=LLM_FAST + extra).replace(
        "[research]\n", '[research]\nbackend = "openai"\n')


def test_a_refused_key_is_said_in_words_and_a_fixed_key_is_used_at_once(lab: LabHarness,
                                                                       fake_llm: FakeLLM) -> None:
    lab.write_config(openai_config())
    fake_llm.default = key_checking
    use_model(lab, fake_llm, "wrong-key")

    first = lab.lab("sprint", check=True, timeout=90)
    said = (f"the endpoint refused the key: check [llm] api_key_env (the key came from $JOULELAB_LLM_API_KEY; "
            f"HTTP 401 from {host(fake_llm)}; it said: Incorrect API key provided")
    assert said in first.stdout, first.stdout
    assert "continues on the offline backend" in first.stdout and "awaiting_approval" in first.stdout
    assert len(fake_llm.requests) == 1, "a refused key is not retried: it will not change by itself"
    assert "wrong-key" not in first.stdout + first.stderr
    (row,) = lab.query("SELECT * FROM llm_endpoints")
    assert row["state"] == "degraded" and row["retry_at"] is None, "recorded, with no lockout"

    status = lab.lab("status", check=True).stdout
    assert f"model: {host(fake_llm)}: key refused: check [llm] api_key_env" in status, status
    assert "the next call tries it again" in status

    check = lab.lab("llm", "check")
    assert check.returncode == 1 and "does not answer: the endpoint refused the key" in check.stdout, check

    use_model(lab, fake_llm, GOOD)  # the user fixes the key: the very next sprint uses the model
    before = len(fake_llm.requests)
    second = lab.lab("sprint", check=True, timeout=90)
    assert "is degraded since" not in second.stdout and "skips it until" not in second.stdout, second.stdout
    assert "answers again" in second.stdout, "the lab is told the model is back"
    fresh = fake_llm.requests[before:]
    assert fresh and all(r["headers"]["Authorization"] == f"Bearer {GOOD}" for r in fresh)
    assert "Noted." in second.stdout, "the model's words are in the dialogue"
    assert lab.query("SELECT state FROM llm_endpoints")[0]["state"] == "ok"
    assert "answering" in lab.lab("status", check=True).stdout
    sprints = lab.query("SELECT backend FROM sprints ORDER BY id")
    assert [s["backend"] for s in sprints][-1] == "openai"


def test_lab_llm_check_tries_the_model_now_and_ends_a_degraded_state(lab: LabHarness, fake_llm: FakeLLM) -> None:
    lab.write_config(openai_config('api_key_env = "MY_PROVIDER_KEY"\n'))
    fake_llm.default = key_checking
    lab.env.update(JOULELAB_LLM_BASE_URL=fake_llm.url, JOULELAB_LLM_MODEL="tiny-model", MY_PROVIDER_KEY=GOOD,
                   JOULELAB_LLM_API_KEY="not-this-one")
    assert "not called yet" in lab.lab("status", check=True).stdout

    async def degrade() -> None:  # another process found the model dead a moment ago
        store = await Store.open(lab.dir.db)
        try:
            key = f"tiny-model @ http://127.0.0.1:{fake_llm.server.server_address[1]}/v1"
            await store.mark_llm_degraded(key, host(fake_llm), f"no answer from {host(fake_llm)} within 15 s "
                                          "(gave up after 3 attempts)", 600)
        finally:
            await store.close()

    asyncio.run(degrade())
    status = lab.lab("status", check=True).stdout
    assert f"model: {host(fake_llm)}: degraded since" in status and "no answer in 15 s; skipped until" in status
    assert "`lab llm check` tries it now" in status

    done = lab.lab("llm", "check", check=True)
    assert f"{host(fake_llm)} answers" in done.stdout and "is cleared" in done.stdout, done.stdout
    assert fake_llm.requests[-1]["headers"]["Authorization"] == f"Bearer {GOOD}", "[llm] api_key_env names it"
    assert lab.query("SELECT state FROM llm_endpoints")[0]["state"] == "ok"
    assert any(e["kind"] == "llm.recovered" for e in lab.query("SELECT kind FROM events"))

    before = len(fake_llm.requests)
    sprint = lab.lab("sprint", check=True, timeout=90)
    assert len(fake_llm.requests) > before and "is degraded since" not in sprint.stdout


def test_lab_llm_check_without_a_model_is_one_line_exit_2(lab: LabHarness) -> None:
    lab.env.pop("JOULELAB_LLM_BASE_URL", None)
    lab.env.pop("OPENAI_BASE_URL", None)
    done = lab.lab("llm", "check")
    assert done.returncode == 2 and "needs an endpoint" in done.stderr and "Traceback" not in done.stderr
    assert "model: none" in lab.lab("status", check=True).stdout


def settings(url: str, **llm: Any) -> Any:
    raw = {"research": {"backend": "openai"}, "llm": {"retries": 0, "first_byte_timeout_s": 5, **llm}}
    return load_settings(raw, env={"JOULELAB_LLM_BASE_URL": url, "JOULELAB_LLM_MODEL": "tiny-model"})


async def failure(url: str) -> str:
    client = ChatClient(settings(url).llm)
    try:
        with pytest.raises(LlmError) as caught:
            await client.chat([{"role": "user", "content": "hi"}])
    finally:
        await client.aclose()
    return str(caught.value)


async def test_a_refused_connection_is_said_in_words() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = await failure(f"http://127.0.0.1:{port}/v1")
    assert text.startswith(f"cannot connect to tiny-model at 127.0.0.1:{port}: the connection was refused"), text
    assert "ConnectError" not in text and "\n" not in text
    assert brief_reason(text) == "connection refused"


async def test_a_429_is_one_line_in_words_with_the_providers_message(fake_llm: FakeLLM) -> None:
    message = ("Rate limit reached for gpt-4o-mini in organization org-abc on tokens per min (TPM): "
               "Limit 200000, Used 199500, Requested 1200.\n\nPlease try again in 510ms. Visit "
               "https://platform.openai.com/account/rate-limits to learn more. " + "More words. " * 30)
    fake_llm.default = lambda req: {"status": 429, "message": message}
    text = await failure(fake_llm.url)
    assert text.startswith(f"{host(fake_llm)} is limiting the lab's requests (HTTP 429, too many requests or "
                           "tokens): Rate limit reached for gpt-4o-mini"), text
    assert "\n" not in text and "\\n" not in text and "{" not in text and '"error"' not in text
    said = text.split("tokens): ", 1)[1].split(" (gave up")[0]
    assert said.endswith("…") and not said[:-1].endswith(("Mor", "wor")), "shortened at a word"
    assert brief_reason(text) == "rate-limited (HTTP 429)"


def test_provider_messages_are_read_from_their_json() -> None:
    assert provider_message('{"error": {"message": "bad\\n\\nthing", "type": "x"}}') == "bad thing"
    assert provider_message('{"detail": "Not found"}') == "Not found"
    assert provider_message("<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"
    assert provider_message("") == ""
    assert len(provider_message("word " * 100)) <= 160


async def test_a_403_is_refused_too_and_says_no_key_is_set(fake_llm: FakeLLM) -> None:
    fake_llm.default = lambda req: {"status": 403, "message": "Forbidden"}
    text = await failure(fake_llm.url)
    assert text.startswith("the endpoint refused the key: check [llm] api_key_env (no key is set: none of "
                           "$JOULELAB_LLM_API_KEY, $OPENAI_API_KEY holds one; HTTP 403 from"), text
    assert len(fake_llm.requests) == 1
