"""Bounded, visible language-model failures, against a local OpenAI-protocol server that never
answers or whose stream stops mid-way: each wait and retry is a dialogue row as it happens, the
endpoint is recorded degraded in the database (why, since when, retried when) so another
process skips it until its retry, one try heals it; and at the default limits a sprint falls
back within 60 s."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from agents.dialogue import Dialogue
from agents.research_settings import LlmSettings, load_settings
from db import Message
from tests.agents.support import FakeLLM, research_config
from tests.conftest import LabHarness, open_lab
from tests.timing import machine_quiet, scaled

FAST = {"first_byte_timeout_s": 0.8, "stall_timeout_s": 0.5, "wait_notice_s": 0.25, "retries": 2,
        "backoff_s": 0.05, "max_backoff_s": 0.2, "degraded_retry_s": 120}


def settings(server: FakeLLM, **llm: Any) -> Any:
    raw = {"research": {"backend": "openai"}, "llm": {**FAST, **llm}}
    return load_settings(raw, env={"JOULELAB_LLM_BASE_URL": server.url, "JOULELAB_LLM_MODEL": "tiny-model"})


async def rows(store: Any, kind: str) -> list[Message]:
    return [m for m in await store.messages() if m.agent == "lab" and m.kind == kind]


def host(server: FakeLLM) -> str:
    return f"tiny-model at 127.0.0.1:{server.server.server_address[1]}"


async def test_each_wait_and_retry_is_shown_as_it_happens_then_the_endpoint_is_degraded(
        store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.default = lambda req: {"hang": True}
    dialogue = Dialogue(store, settings(fake_llm))
    task = asyncio.ensure_future(dialogue.say("researcher", "pruning next: 3 seeds", ask="Comment."))
    live: list[str] = []
    while not task.done():  # the waits appear while the call still runs
        live += [w.text for w in await rows(store, "wait") if w.streaming]
        await asyncio.sleep(0.05)
    msg = await task
    await dialogue.close()
    assert any(re.search(r"waiting for tiny-model at .*: no answer for \d+(\.\d)? s \(attempt 1 of 3", t) for t in live), live
    final = [w.text for w in await rows(store, "wait")]
    assert final == [f"no answer from {host(fake_llm)} within 0.8 s (attempt 1 of 3); trying again in 0.05 s",
                     f"no answer from {host(fake_llm)} within 0.8 s (attempt 2 of 3); trying again in 0.1 s",
                     f"no answer from {host(fake_llm)} within 0.8 s (attempt 3 of 3); giving up"]
    assert len(fake_llm.requests) == 3
    row = next(m for m in await store.messages() if m.id == msg)
    assert (row.text, row.backend, row.streaming) == ("pruning next: 3 seeds", "offline", 0)
    (notice,) = [n.text for n in await rows(store, "notice")]
    assert "failed: no answer" in notice and "continues on the offline backend" in notice
    assert "skips the model until" in notice and "[llm] degraded_retry_s = 120 s" in notice
    (down,) = await store.degraded_llms()
    assert down.label == host(fake_llm) and "no answer" in down.reason and down.failures == 1
    assert down.retry_at - down.since == 120
    assert any(e.kind == "llm.degraded" for e in await store.events_after(0))


async def test_a_stream_that_stops_after_three_chunks_is_cut_at_the_stall_limit(
        store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.default = lambda req: {"chunks": ["The ", "int8 ", "model ", "keeps"], "hang_after": 3}
    dialogue = Dialogue(store, settings(fake_llm, retries=1, first_byte_timeout_s=5))
    task = asyncio.ensure_future(dialogue.say("validator", "rated 6/10", ask="Comment."))
    live: list[str] = []
    while not task.done():
        live += [w.text for w in await rows(store, "wait") if w.streaming]
        await asyncio.sleep(0.05)
    msg = await task
    await dialogue.close()
    row = next(m for m in await store.messages() if m.id == msg)
    assert (row.text, row.backend) == ("rated 6/10", "offline")  # the half answer is not kept
    final = [w.text for w in await rows(store, "wait")]
    assert final == [f"the stream from {host(fake_llm)} stalled: nothing for 0.5 s after 3 line(s) of it "
                     f"(attempt {n} of 2); {then}" for n, then in ((1, "trying again in 0.05 s"), (2, "giving up"))]
    assert len(fake_llm.requests) == 2
    assert "stalled" in (await store.degraded_llms())[0].reason


async def test_another_process_skips_a_degraded_endpoint_until_its_retry_and_one_try_heals_it(
        store: Any, fake_llm: FakeLLM) -> None:
    fake_llm.default = lambda req: {"hang": True}
    first = Dialogue(store, settings(fake_llm, degraded_retry_s=1.0, retries=1))
    await first.say("researcher", "one", ask="Comment.")
    await first.close()
    assert len(fake_llm.requests) == 2 and first.backend == "offline"

    # a second host of the lab (a new Dialogue: a `lab sprint`, the engine's background research)
    second = Dialogue(store, settings(fake_llm, degraded_retry_s=1.0, retries=1))
    await second.refresh()
    assert second.backend == "offline" and len(fake_llm.requests) == 2  # skipped, not called
    skipped = (await rows(store, "notice"))[-1].text
    assert "is degraded since" in skipped and "skips it until" in skipped and "runs on the offline backend" in skipped
    await second.close()

    down = (await store.degraded_llms())[0]
    while time.time() < down.retry_at:
        await asyncio.sleep(0.05)
    third = Dialogue(store, settings(fake_llm, degraded_retry_s=1.0, retries=1))
    await third.say("researcher", "two", ask="Comment.")  # still dead: tried once only, not twice
    await third.close()
    assert len(fake_llm.requests) == 3
    again = (await store.degraded_llms())[0]
    assert again.failures == 2 and again.since == down.since and again.retry_at > down.retry_at

    fake_llm.default = lambda req: {"content": "Back."}
    while time.time() < again.retry_at:
        await asyncio.sleep(0.05)
    fourth = Dialogue(store, settings(fake_llm, degraded_retry_s=1.0, retries=1))
    msg = await fourth.say("researcher", "three", ask="Comment.")
    await fourth.close()
    assert next(m for m in await store.messages() if m.id == msg).text == "three\n\nBack."
    assert await store.degraded_llms() == []
    assert "answers again" in (await rows(store, "notice"))[-1].text
    assert (await store.llm_health(fourth.key)).state == "ok"
    assert any(e.kind == "llm.recovered" for e in await store.events_after(0))


LLM_FAST = """
[llm]
first_byte_timeout_s = 0.6
wait_notice_s = 0.2
retries = 1
backoff_s = 0.05
degraded_retry_s = 600
"""


def with_model(lab: LabHarness, server: FakeLLM) -> None:
    lab.env.update(JOULELAB_LLM_BASE_URL=server.url, JOULELAB_LLM_MODEL="tiny-model")


def test_lab_sprint_shows_the_waits_and_the_next_process_skips_the_degraded_endpoint(
        lab: LabHarness, fake_llm: FakeLLM) -> None:
    lab.write_config(research_config(autonomy=1, catalog=["fake", "dag"], extra=LLM_FAST))
    fake_llm.default = lambda req: {"hang": True}
    with_model(lab, fake_llm)
    done = lab.lab("sprint", "--backend", "openai", check=True, timeout=90)
    out = done.stdout
    assert re.search(r"\[lab\] no answer from tiny-model at [\d.:]+ within 0.6 s \(attempt 1 of 2\); trying again", out)
    assert "(attempt 2 of 2); giving up" in out and "continues on the offline backend" in out
    assert "awaiting_approval (experiment 1)" in out
    assert out.index("attempt 1 of 2") < out.index("continues on the offline backend")
    assert len(fake_llm.requests) == 2
    (down,) = lab.query("SELECT * FROM llm_endpoints WHERE state = 'degraded'")
    assert "no answer" in down["reason"] and down["retry_at"] > time.time() + 500

    again = lab.lab("sprint", "--backend", "openai", check=True, timeout=90)  # another process
    assert "is degraded since" in again.stdout and len(fake_llm.requests) == 2
    sprints = lab.query("SELECT backend FROM sprints ORDER BY id")
    assert [s["backend"] for s in sprints] == ["openai", "offline"]


SPRINT_AT_DEFAULTS = 60.0  # the bound: a sprint gives up on a dead endpoint within this
#: the live test's limits are the defaults divided by this, and so is the bound they are held to: the
#: same claim (the waits add up to the limits, nothing else waits) in a tenth of the time
SHRINK = 10


def give_up_after_s(llm: LlmSettings) -> float:
    """The longest a call waits on an endpoint that never answers, or whose stream stops, before
    it gives up: every attempt's limit, and the backoffs between them."""
    backoffs = sum(min(llm.backoff_s * 2 ** i, llm.max_backoff_s) for i in range(llm.retries))
    return llm.attempts * max(llm.first_byte_s, llm.stall_s) + backoffs


def shrunk_limits() -> str:
    """The default [llm] limits divided by SHRINK, as config.toml's section."""
    d = LlmSettings()
    limits = {"first_byte_timeout_s": d.first_byte_timeout_s, "stall_timeout_s": d.stall_timeout_s,
              "backoff_s": d.backoff_s, "max_backoff_s": d.max_backoff_s, "wait_notice_s": d.wait_notice_s}
    return "[llm]\n" + "".join(f"{k} = {v / SHRINK:g}\n" for k, v in limits.items())


def test_the_default_limits_give_up_within_60_s() -> None:
    """No [llm] section in config.toml: 3 attempts of 15 s and 1 s + 2 s of backoff, 48 s."""
    llm = load_settings({}, env={}).llm
    assert (llm.first_byte_s, llm.stall_s, llm.attempts, llm.backoff_s) == (15, 15, 3, 1)
    assert give_up_after_s(llm) == 48 < SPRINT_AT_DEFAULTS
    shrunk = load_settings({"llm": tomllib.loads(shrunk_limits())["llm"]}, env={}).llm
    assert give_up_after_s(shrunk) == pytest.approx(give_up_after_s(llm) / SHRINK)


def test_at_the_default_limits_a_sprint_falls_back_within_60_s(tmp_path: Path) -> None:
    """At the default limits shrunk tenfold (their figures are checked above): one lab's endpoint
    never answers, the other's stream stops after three chunks; both sprints (run at once) fall
    back in < 60 s / 10, from the first request to the notice."""
    servers = {"dead": FakeLLM(), "stalls": FakeLLM()}
    servers["dead"].default = lambda req: {"hang": True}
    servers["stalls"].default = lambda req: {"chunks": ["a", "b", "c", "d"], "hang_after": 3}
    bound = SPRINT_AT_DEFAULTS / SHRINK
    try:
        with open_lab(tmp_path / "dead") as dead, open_lab(tmp_path / "stalls") as stalls:
            labs = {"dead": dead, "stalls": stalls}
            procs = {}
            for name, lab in labs.items():
                lab.write_config(research_config(autonomy=1, catalog=["fake"], extra=shrunk_limits()))
                with_model(lab, servers[name])
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "cli", "--dir", str(lab.root), "sprint", "--backend", "openai"],
                    env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            outs = {name: p.communicate(timeout=scaled(180)) for name, p in procs.items()}
            for name, lab in labs.items():
                assert procs[name].returncode == 0, outs[name]
                notice = lab.query("SELECT * FROM messages WHERE agent = 'lab' AND kind = 'notice' ORDER BY id")[0]
                assert "continues on the offline backend" in notice["text"]
                waits = [w["text"] for w in lab.query("SELECT text FROM messages WHERE kind = 'wait' ORDER BY id")]
                assert waits[-1].endswith("(attempt 3 of 3); giving up"), waits
                assert len(servers[name].requests) == 3
                took = notice["created_at"] - servers[name].requests[0]["wall"]
                # the limits add up to 4.8 s; the wall time is held to the bound when the machine
                # is quiet, and to the scaled bound always
                assert took < (bound if machine_quiet() else scaled(bound)), (name, took)
            assert "within 1.5 s (attempt 1 of 3)" in outs["dead"][0]
            assert "stalled: nothing for 1.5 s after 3 line(s)" in outs["stalls"][0]
    finally:
        for server in servers.values():
            server.close()
