"""How the agents speak: every message is a row the moment it is said.

The offline backend writes the sentence the agent built from real numbers and decisions. With a
language model (the `openai` backend) the same grounded sentence is written first and the
model's comment streams into the row after it; a comment citing a number that is not in the
evidence is withheld. Structured answers (a choice, parameters, code) are asked as JSON and
checked against a schema, with the validation error sent back for another try; when that fails
the agent decides offline. The model never produces a metric or a rating: those are computed.

A call's silent waits and retries are shown as they happen (`lab` rows of kind `wait`, updated
in place: "no answer from X within 15 s (attempt 1 of 3); trying again in 1 s"). When the
endpoint fails (all attempts spent) the rest of the sprint runs offline, a `lab` notice says so,
and the endpoint is recorded as degraded in the database (why, since when, and when it is tried
again, `[llm] degraded_retry_s` later): every process of the lab (`lab sprint`, the engine's
background research, the control room's status line) skips it until then; the first call after
that tries it once, and a success (or `lab llm check`) ends the degraded state. An endpoint that
refuses the key (HTTP 401/403) is a set-up mistake, not an outage: it is recorded with its reason
and no retry time, and every later call tries it again at once (a fixed key works at once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from agents.budgets import day_start
from agents.grounding import ungrounded
from agents.llm.endpoint import endpoint_key, endpoint_label
from agents.research_settings import ResearchSettings
from contract import units
from db import MessageKind, Store

if TYPE_CHECKING:
    from agents.llm.client import ChatClient
    from agents.llm.schema import Schema
    from contract.jsonvalue import JsonObject

A = TypeVar("A")

SCHEMA_ATTEMPTS = 3  # the first answer and two corrections
FLUSH_CHARS = 24
FLUSH_S = 0.1

ROLES = {
    "researcher": "You are the researcher of an energy-efficient machine learning lab. You choose what "
                  "to study next and state hypotheses and research questions.",
    "architect": "You are the architect of an energy-efficient machine learning lab. You turn a research "
                 "question into an experiment plan within the catalog's parameter ranges.",
    "coder": "You are the coder of an energy-efficient machine learning lab. You write the exact runnable "
             "specification, and, when asked, a self-contained Python experiment program.",
    "validator": "You are the validator of an energy-efficient machine learning lab. You interpret "
                 "statistics computed from measured runs.",
}
RULES = ("Never state a number that is not in the evidence you are given. Never give a rating, a "
         "score or a metric of your own: the lab computes them. Be brief: at most three sentences.")


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def add(self, tokens_in: int, tokens_out: int, cost_usd: float) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost_usd += cost_usd


class RowSink:
    """Streams a model's tokens into a message row, a few characters per write."""

    def __init__(self, store: Store, msg_id: int, prefix: str) -> None:
        self.store, self.msg_id, self.prefix = store, msg_id, prefix
        self._buffer: list[str] = []
        self._last = time.monotonic()

    async def reset(self) -> None:
        self._buffer.clear()
        await self.store.update_message(self.msg_id, text=self.prefix, streaming=True)

    async def delta(self, text: str) -> None:
        self._buffer.append(text)
        if sum(map(len, self._buffer)) >= FLUSH_CHARS or time.monotonic() - self._last >= FLUSH_S:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            await self.store.update_message(self.msg_id, append="".join(self._buffer))
            self._buffer.clear()
        self._last = time.monotonic()


def _clock(t: float | None) -> str:
    """When something happened or will: the time of day if today, else the date and time."""
    return units.since(t, time.time())


class WaitRows:
    """A call's waits and retries as `lab` rows of kind `wait`: one row per attempt, written when
    the attempt has been silent for a while or failed, and updated in place as it goes on."""

    def __init__(self, store: Store, label: str, experiment_id: int | None) -> None:
        self.store, self.label, self.experiment_id = store, label, experiment_id
        self.rows: dict[int, int] = {}

    async def _write(self, attempt: int, text: str, streaming: bool) -> None:
        if attempt in self.rows:
            await self.store.update_message(self.rows[attempt], text=text, streaming=streaming)
        else:
            self.rows[attempt] = await self.store.add_message("lab", text, experiment_id=self.experiment_id,
                                                              kind=MessageKind.WAIT, streaming=streaming)

    async def waiting(self, attempt: int, attempts: int, silent_s: float, limit_s: float, phase: str) -> None:
        what = "no answer" if phase == "first byte" else "its stream silent"
        await self._write(attempt, f"waiting for {self.label}: {what} for {units.duration(silent_s)} (attempt {attempt} of "
                                   f"{attempts}; given up after {limit_s:g} s)", True)

    async def failed(self, attempt: int, attempts: int, reason: str, retry_in_s: float | None) -> None:
        then = f"trying again in {retry_in_s:.3g} s" if retry_in_s is not None else "giving up"
        await self._write(attempt, f"{reason} (attempt {attempt} of {attempts}); {then}", False)


class Dialogue:
    def __init__(self, store: Store, settings: ResearchSettings, *, backend: str | None = None) -> None:
        self.store = store
        self.settings = settings
        self.requested = backend or settings.backend
        self.fallen: str | None = None
        self._permanent = False          # fallen for a reason no later sprint can change (no endpoint)
        self._client: ChatClient | None = None
        self._pending: dict[str, Usage] = {}
        self._health_checked = False
        self._attempts_now: int | None = None   # one attempt: the retry of a degraded endpoint
        self._confirmed = False                 # a call succeeded (and the lab was told)
        llm = settings.llm
        self.key = endpoint_key(llm) if llm.base_url and llm.model else None

    @property
    def backend(self) -> str:
        """The backend in use now ('offline' after a fallback)."""
        return "openai" if self.requested == "openai" and self.fallen is None else "offline"

    @property
    def endpoint(self) -> str:
        return endpoint_label(self.settings.llm)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def notice(self, text: str, experiment_id: int | None = None) -> int:
        msg_id: int = await self.store.add_message("lab", text, experiment_id=experiment_id, kind=MessageKind.NOTICE)
        return msg_id

    async def refresh(self, experiment_id: int | None = None) -> None:
        """Before a sprint: forget this process's fallback and take up the lab-wide state of the
        endpoint (degraded elsewhere: this sprint runs offline at once; retry due: one attempt)."""
        if self.requested != "openai" or self._permanent:
            return
        self.fallen = None
        self._health_checked = False
        self._confirmed = False
        await self._health(experiment_id)

    async def _health(self, experiment_id: int | None) -> bool:
        """False when the endpoint is degraded and not yet due for another try (fallen back)."""
        if self._health_checked or self.key is None:
            return self.fallen is None
        self._health_checked = True
        row = await self.store.llm_health(self.key)
        if row is None or not row.degraded:
            return True
        if row.retry_at is None:  # it refused the key: a set-up mistake, tried again at once (fixed or not)
            return True
        interval = self.settings.llm.degraded_retry_s
        if (row.retry_at or 0.0) <= time.time() and await self.store.claim_llm_retry(self.key, interval):
            self._attempts_now = 1
            await self.notice(f"the language model ({self.endpoint}) has been degraded since {_clock(row.since)} "
                              f"({row.reason}); trying it again now, once", experiment_id)
            return True
        fresh = await self.store.llm_health(self.key) or row
        self.fallen = row.reason or "degraded"
        await self.notice(f"the language model ({self.endpoint}) is degraded since {_clock(fresh.since)} "
                          f"({fresh.reason}); every process of the lab skips it until "
                          f"{_clock(fresh.retry_at or time.time())}, then tries it again; this sprint runs on "
                          "the offline backend", experiment_id)
        return False

    async def fall_back(self, reason: str, experiment_id: int | None = None, *, endpoint_failed: bool = False,
                        permanent: bool = False) -> None:
        if self.fallen is not None:
            return
        self.fallen = reason
        self._permanent = permanent
        if not endpoint_failed:
            await self.notice(f"the language model ({self.endpoint}) is not used: {reason}; the sprint continues "
                              "on the offline backend", experiment_id)
            return
        interval = self.settings.llm.degraded_retry_s
        row = await self.store.mark_llm_degraded(self.key or self.endpoint, self.endpoint, reason, interval) \
            if self.key else None
        until = f"until {_clock(row.retry_at)} ([llm] degraded_retry_s = {interval:g} s)" if row else "for now"
        await self.notice(f"the language model ({self.endpoint}) failed: {reason}; the sprint continues on the "
                          f"offline backend, and every process of the lab skips the model {until}, then tries "
                          "it again", experiment_id)

    async def _answered(self, experiment_id: int | None) -> None:
        """A call succeeded: the endpoint is healthy again for the whole lab."""
        self._attempts_now = None
        if self._confirmed or self.key is None:
            return
        self._confirmed = True
        ended = await self.store.mark_llm_ok(self.key, self.endpoint)
        if ended is not None:
            await self.notice(f"the language model ({self.endpoint}) answers again (degraded since "
                              f"{_clock(ended.since)}, {ended.failures} failed call(s))", experiment_id)

    async def _failed(self, exc: Exception, experiment_id: int | None) -> None:
        self._attempts_now = None
        if getattr(exc, "refused", False):
            await self._refused(str(exc), experiment_id)
            return
        await self.fall_back(str(exc), experiment_id, endpoint_failed=True)

    async def _refused(self, reason: str, experiment_id: int | None) -> None:
        """The endpoint refused the key (401/403): the lab's set-up is wrong, the endpoint is not
        down. Recorded for every process to show, with no lockout: the next call tries again, so a
        fixed key works at once."""
        if self.fallen is not None:
            return
        self.fallen = reason
        if self.key:
            await self.store.mark_llm_degraded(self.key, self.endpoint, reason, None)
        await self.notice(f"{reason}; the sprint continues on the offline backend, and the next sprint tries the "
                          "model again with the configuration then in force (`lab llm check` tries it now)",
                          experiment_id)

    def _waits(self, experiment_id: int | None) -> WaitRows:
        return WaitRows(self.store, self.endpoint, experiment_id)

    async def _llm(self, experiment_id: int | None) -> ChatClient | None:
        if self.backend != "openai":
            return None
        spent = float((await self.store.llm_spend(day_start())).cost_usd or 0.0)
        limit = self.settings.budgets.llm_usd_per_day
        if spent >= limit:
            await self.fall_back(f"the LLM budget of {units.usd(limit)} per day is used up ({units.usd(spent)} spent today)",
                                 experiment_id)
            return None
        if self._client is None:
            from agents.llm.client import ChatClient, LlmError  # httpx only when a model is used

            try:
                self._client = ChatClient(self.settings.llm)
            except LlmError as exc:
                await self.fall_back(str(exc), experiment_id, permanent=True)
                return None
        if not await self._health(experiment_id):
            return None
        return self._client

    def _take_usage(self, agent: str) -> Usage:
        return self._pending.pop(agent, Usage())

    async def say(self, agent: str, text: str, *, kind: MessageKind = MessageKind.SAY, experiment_id: int | None = None,
                  ask: str | None = None, evidence: str = "") -> int:
        """Say `text` (built from the numbers); with a model and `ask`, stream its comment after it."""
        usage = self._take_usage(agent)
        backend = "openai" if usage.tokens_in or usage.tokens_out else "offline"
        client = await self._llm(experiment_id) if ask is not None else None
        msg_id: int = await self.store.add_message(agent, text, experiment_id=experiment_id, kind=kind,
                                              backend="openai" if client else backend, streaming=client is not None,
                                              tokens_in=usage.tokens_in, tokens_out=usage.tokens_out,
                                              cost_usd=usage.cost_usd)
        if client is None:
            return msg_id
        from agents.llm.client import LlmError

        prefix = text + "\n\n"
        sink = RowSink(self.store, msg_id, prefix)
        messages = [{"role": "system", "content": f"{ROLES.get(agent, '')} {RULES}"},
                    {"role": "user", "content": f"{ask}\n\nEvidence:\n{text}\n{evidence}".rstrip()}]
        try:
            result = await client.chat(messages, sink=sink, progress=self._waits(experiment_id),
                                       attempts=self._attempts_now)
            await sink.flush()
        except LlmError as exc:
            await self.store.update_message(msg_id, text=text, streaming=False, backend=backend)
            await self._failed(exc, experiment_id)
            return msg_id
        await self._answered(experiment_id)
        comment = result.text.strip()
        bad = ungrounded(comment, text + "\n" + evidence)
        if bad:
            comment = ("(the model's comment was withheld: it cited numbers that are not in the evidence: "
                       f"{', '.join(bad[:5])})")
        await self.store.update_message(
            msg_id, text=prefix + comment if comment else text, streaming=False, backend="openai",
            tokens_in=usage.tokens_in + result.tokens_in, tokens_out=usage.tokens_out + result.tokens_out,
            cost_usd=usage.cost_usd + result.cost_usd)
        return msg_id

    async def decide(self, agent: str, task: str, evidence: str, schema: Schema, read: Callable[[JsonObject], A], *,
                     experiment_id: int | None = None, max_tokens: int | None = None) -> A | None:
        """A structured answer from the model, checked against `schema` and read into its type by
        `read` (agents/llm/schema.py); None: decide offline."""
        client = await self._llm(experiment_id)
        if client is None:
            return None
        from agents.llm import schema as json_schema
        from agents.llm.client import LlmError

        messages = [{"role": "system", "content": f"{ROLES.get(agent, '')} {RULES}"},
                    {"role": "user", "content": f"{task}\n\nEvidence:\n{evidence}\n\nAnswer with only a JSON "
                                                f"object matching this JSON schema:\n{json.dumps(schema)}"}]
        problems: list[str] = []
        usage = self._pending.setdefault(agent, Usage())
        for _ in range(SCHEMA_ATTEMPTS):
            try:
                result = await client.chat(messages, json_mode=True, max_tokens=max_tokens,
                                           progress=self._waits(experiment_id), attempts=self._attempts_now)
            except LlmError as exc:
                await self._failed(exc, experiment_id)
                return None
            await self._answered(experiment_id)
            usage.add(result.tokens_in, result.tokens_out, result.cost_usd)
            value, problems = json_schema.read_answer(result.text, schema, read)
            if value is not None:
                return value
            messages += [{"role": "assistant", "content": result.text},
                         {"role": "user", "content": "That answer does not match the schema: "
                          + "; ".join(problems[:5]) + ". Answer again with only the corrected JSON object."}]
        await self.notice(f"the model's answer for the {agent} did not match the schema after {SCHEMA_ATTEMPTS} "
                          f"attempts ({problems[0]}); the {agent} decides offline", experiment_id)
        return None
