"""Server-sent events of a streaming chat completion: `data: {json}` lines, ending `data: [DONE]`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from contract.jsonvalue import JsonObject, json_object


def _count(obj: JsonObject, key: str) -> int | None:
    """A token count as the provider reported it: a whole number, not negative; None otherwise."""
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True)
class Usage:
    """The provider's token counts of an answer (None: not reported, or not a whole number >= 0)."""

    prompt_tokens: int | None
    completion_tokens: int | None

    @classmethod
    def of(cls, raw: object) -> Usage | None:
        """From the answer's `usage` object; None when there is none (absent, empty, not an object)."""
        obj = json_object(raw)
        return cls(_count(obj, "prompt_tokens"), _count(obj, "completion_tokens")) if obj else None


class StreamError(ValueError):
    """A chunk of the stream is not the JSON the protocol promises."""


@dataclass
class Chunk:
    content: str
    usage: Usage | None
    finish_reason: str | None


async def chunks(lines: AsyncIterator[str]) -> AsyncIterator[Chunk]:
    async for line in lines:
        line = line.strip()
        if not line or line.startswith(":") or not line.startswith("data:"):
            continue  # blank separators, comments (keep-alives), event names
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            obj = json.loads(data)
        except ValueError:
            raise StreamError(f"a stream chunk is not JSON: {data[:60]!r}") from None
        if not isinstance(obj, dict):
            raise StreamError("a stream chunk is not a JSON object")
        if "error" in obj:
            raise StreamError(f"the stream reported an error: {str(obj['error'])[:120]}")
        choices = obj.get("choices") or []
        delta = choices[0].get("delta", {}) if choices and isinstance(choices[0], dict) else {}
        finish = choices[0].get("finish_reason") if choices and isinstance(choices[0], dict) else None
        yield Chunk(str(delta.get("content") or ""), Usage.of(obj.get("usage")), finish)
