"""`lab llm check`: the language model tried now; and the model's line of `lab status`.

A check calls the endpoint once (one attempt, a few tokens) whatever its recorded state: when it
answers, a degraded state recorded by any process of the lab ends at once, so the next sprint
uses it; when it refuses the key, that is recorded (no lockout) and said in words.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from enum import StrEnum

from agents.llm.endpoint import brief_reason, endpoint_key, endpoint_label
from agents.research_settings import ResearchSettings, SettingsError, current_settings, read_config
from cli.commands.common import add_json
from cli.context import CommandError, Context
from contract import units
from contract.jsonvalue import JsonObject

CHECK_PROMPT = "Answer with the single word: ready"
CHECK_TOKENS = 8


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("llm", help="the language model of the research team: `lab llm check` tries it now")
    llm = p.add_subparsers(dest="llm_command", metavar="ACTION", required=True)
    c = llm.add_parser("check", help="call the model once now; a degraded state ends when it answers")
    add_json(c)
    c.set_defaults(func=check)


async def _settings(ctx: Context) -> ResearchSettings:
    try:
        return await current_settings(await ctx.store(), read_config(ctx.lab.root))
    except SettingsError as exc:
        raise CommandError(str(exc), 2) from None


class ModelStatus(StrEnum):
    NONE = "none"              # no endpoint configured
    UNUSED = "unused"          # not called yet
    OK = "ok"
    DEGRADED = "degraded"      # skipped until its retry time
    REFUSED = "refused"        # it refused the key: the next call tries it again
    UNREADABLE = "unreadable"  # the settings could not be read


@dataclass(frozen=True)
class ModelState:
    """The research team's model as `lab status` and `lab llm check` say it."""

    backend: str
    label: str | None          # None: no endpoint configured
    state: ModelStatus
    reason: str = ""
    since: float | None = None
    retry_at: float | None = None

    def line(self, now: float) -> str:
        if self.state == ModelStatus.UNREADABLE:
            return f"model: unknown: {self.reason}"
        if self.label is None:
            return ("model: none: the research team runs offline (set [research] backend = \"openai\" and "
                    "[llm] base_url and model to use one)")
        use = "" if self.backend == "openai" else " (not used: [research] backend is offline)"
        if self.state == ModelStatus.UNUSED:
            return f"model: {self.label}{use}: not called yet (`lab llm check` tries it)"
        if self.state == ModelStatus.OK:
            return f"model: {self.label}{use}: answering (since {units.since(self.since, now)})"
        if self.state == ModelStatus.REFUSED:
            return (f"model: {self.label}{use}: {brief_reason(self.reason)} (since {units.since(self.since, now)}); "
                    "the next call tries it again")
        return (f"model: {self.label}{use}: degraded since {units.since(self.since, now)}, "
                f"{brief_reason(self.reason)}; skipped until {units.since(self.retry_at, now)} "
                "(`lab llm check` tries it now)")

    def as_json(self) -> JsonObject:
        return dict(self.__dict__)


async def model_state(ctx: Context) -> ModelState:
    try:
        settings = await _settings(ctx)
    except CommandError as exc:  # `lab status` still answers; the settings' problem is the model's line
        return ModelState("offline", None, ModelStatus.UNREADABLE, str(exc))
    llm = settings.llm
    if llm.missing():
        return ModelState(settings.backend, None, ModelStatus.NONE)
    row = await (await ctx.store()).llm_health(endpoint_key(llm))
    label = endpoint_label(llm)
    if row is None:
        return ModelState(settings.backend, label, ModelStatus.UNUSED)
    state = (ModelStatus.OK if not row.degraded else ModelStatus.REFUSED if row.retry_at is None
             else ModelStatus.DEGRADED)
    return ModelState(settings.backend, label, state, row.reason, row.since, row.retry_at)


async def check(args: argparse.Namespace, ctx: Context) -> int:
    settings = await _settings(ctx)
    llm = settings.llm
    if missing := llm.missing():
        raise CommandError(missing, 2)
    from agents.llm.client import ChatClient, LlmError  # httpx only when a model is used

    store = await ctx.store()
    key, label = endpoint_key(llm), endpoint_label(llm)
    client = ChatClient(llm)
    started = time.monotonic()
    try:
        result = await client.chat([{"role": "user", "content": CHECK_PROMPT}], max_tokens=CHECK_TOKENS, attempts=1)
    except LlmError as exc:
        if exc.refused:
            await store.mark_llm_degraded(key, label, str(exc), None)
        before = await model_state(ctx)
        if ctx.as_json:
            ctx.out_json({"endpoint": label, "answers": False, "reason": str(exc), "state": before.as_json()})
        else:
            ctx.out(f"{label} does not answer: {exc}")
            ctx.out(before.line(time.time()))
        return 1
    finally:
        await client.aclose()
    took = time.monotonic() - started
    ended = await store.mark_llm_ok(key, label)
    cleared = ended is not None and ended.degraded
    if ctx.as_json:
        ctx.out_json({"endpoint": label, "answers": True, "seconds": round(took, 3), "cleared": cleared,
                      "tokens": result.tokens_in + result.tokens_out})
        return 0
    ctx.out(f"{label} answers ({units.duration(took)}, {result.tokens_in + result.tokens_out} tokens"
            f"{', estimated' if result.usage_estimated else ''})")
    if cleared:
        assert ended is not None
        ctx.out(f"its degraded state (since {units.since(ended.since, time.time())}: {brief_reason(ended.reason)}) "
                "is cleared: every process of the lab uses the model again from its next call")
    return 0
