"""Server-sent events of a streaming chat completion: `data: {json}` lines, ending `data: [DONE]`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

# the provider's token counts of an answer (prompt_tokens, completion_tokens), as its JSON gives them
Usage = dict[str, Any]


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
        yield Chunk(str(delta.get("content") or ""), obj.get("usage") if isinstance(obj.get("usage"), dict)
                    else None, finish)
