"""How the agents speak: every message is a row the moment it is said.

The offline backend writes the sentence the agent built from real numbers and decisions. With a
language model (the `openai` backend) the same grounded sentence is written first and the
model's comment streams into the row after it; a comment citing a number that is not in the
evidence is withheld. Structured answers (a choice, parameters, code) are asked as JSON and
checked against a schema, with the validation error sent back for another try; when that fails
the agent decides offline. When the endpoint fails, the rest of the sprint runs offline and a
`lab` notice says so. The model never produces a metric or a rating: those are computed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agents.budgets import day_start
from agents.grounding import ungrounded
from agents.settings import ResearchSettings

if TYPE_CHECKING:
    from agents.llm.client import ChatClient

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

    def __init__(self, store: Any, msg_id: int, prefix: str) -> None:
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


class Dialogue:
    def __init__(self, store: Any, settings: ResearchSettings, *, backend: str | None = None) -> None:
        self.store = store
        self.settings = settings
        self.requested = backend or settings.backend
        self.fallen: str | None = None
        self._client: ChatClient | None = None
        self._pending: dict[str, Usage] = {}

    @property
    def backend(self) -> str:
        """The backend in use now ('offline' after a fallback)."""
        return "openai" if self.requested == "openai" and self.fallen is None else "offline"

    @property
    def endpoint(self) -> str:
        url = self.settings.llm.base_url or ""
        return f"{self.settings.llm.model} at {urlsplit(url).netloc or url}"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def notice(self, text: str, experiment_id: int | None = None) -> int:
        return await self.store.add_message("lab", text, experiment_id=experiment_id, kind="notice")

    async def fall_back(self, reason: str, experiment_id: int | None = None) -> None:
        if self.fallen is not None:
            return
        self.fallen = reason
        await self.notice(f"the language model ({self.endpoint}) failed: {reason}; the sprint continues "
                          "on the offline backend", experiment_id)

    async def _llm(self, experiment_id: int | None) -> "ChatClient | None":
        if self.backend != "openai":
            return None
        spent = float((await self.store.llm_spend(day_start())).get("cost_usd") or 0.0)
        limit = self.settings.budgets.llm_usd_per_day
        if spent >= limit:
            await self.fall_back(f"the LLM budget of ${limit:.2f} per day is used up (${spent:.2f} spent today)",
                                 experiment_id)
            return None
        if self._client is None:
            from agents.llm.client import ChatClient, LlmError  # httpx only when a model is used

            try:
                self._client = ChatClient(self.settings.llm)
            except LlmError as exc:
                await self.fall_back(str(exc), experiment_id)
                return None
        return self._client

    def _take_usage(self, agent: str) -> Usage:
        return self._pending.pop(agent, Usage())

    async def say(self, agent: str, text: str, *, kind: str = "say", experiment_id: int | None = None,
                  ask: str | None = None, evidence: str = "") -> int:
        """Say `text` (built from the numbers); with a model and `ask`, stream its comment after it."""
        usage = self._take_usage(agent)
        backend = "openai" if usage.tokens_in or usage.tokens_out else "offline"
        client = await self._llm(experiment_id) if ask is not None else None
        msg_id = await self.store.add_message(agent, text, experiment_id=experiment_id, kind=kind,
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
            result = await client.chat(messages, sink=sink)
            await sink.flush()
        except LlmError as exc:
            await self.store.update_message(msg_id, text=text, streaming=False, backend=backend)
            await self.fall_back(str(exc), experiment_id)
            return msg_id
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

    async def decide(self, agent: str, task: str, evidence: str, schema: dict[str, Any], *,
                     experiment_id: int | None = None, max_tokens: int | None = None) -> Any | None:
        """A structured answer from the model, checked against `schema`; None: decide offline."""
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
                result = await client.chat(messages, json_mode=True, max_tokens=max_tokens)
            except LlmError as exc:
                await self.fall_back(str(exc), experiment_id)
                return None
            usage.add(result.tokens_in, result.tokens_out, result.cost_usd)
            try:
                value = json_schema.parse(result.text)
                problems = json_schema.errors(value, schema)
            except ValueError as exc:
                problems = [f"not valid JSON ({exc})"]
            if not problems:
                return value
            messages += [{"role": "assistant", "content": result.text},
                         {"role": "user", "content": "That answer does not match the schema: "
                          + "; ".join(problems[:5]) + ". Answer again with only the corrected JSON object."}]
        await self.notice(f"the model's answer for the {agent} did not match the schema after {SCHEMA_ATTEMPTS} "
                          f"attempts ({problems[0]}); the {agent} decides offline", experiment_id)
        return None
