"""An OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, llama.cpp server).

Streams tokens to a sink as they arrive; retries 429, 5xx, timeouts and broken streams with
exponential backoff, honouring Retry-After; gives up with `LlmError` (one line, never the key)
when the attempts or the call's deadline run out; accounts tokens and cost per call.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from agents.llm import prices, sse
from agents.settings import LlmSettings


class LlmError(RuntimeError):
    """The endpoint could not give an answer; the message says why, in one line."""


class StreamSink(Protocol):
    async def reset(self) -> None:
        """A new attempt starts: forget what the previous one streamed."""

    async def delta(self, text: str) -> None:
        """More text arrived."""


@dataclass
class ChatResult:
    text: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    usage_estimated: bool
    attempts: int


class _Retry(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Fatal(Exception):
    pass


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


class ChatClient:
    def __init__(self, settings: LlmSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if settings.missing():
            raise LlmError(settings.missing())
        self.settings = settings
        self.url = str(settings.base_url).rstrip("/") + "/chat/completions"
        timeout = httpx.Timeout(settings.timeout_s, connect=min(10.0, settings.timeout_s))
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        return headers

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "[key]") if key else text

    async def chat(self, messages: list[dict[str, str]], *, json_mode: bool = False,
                   sink: StreamSink | None = None, max_tokens: int | None = None) -> ChatResult:
        body: dict[str, Any] = {"model": self.settings.model, "messages": messages,
                                "temperature": self.settings.temperature, "stream": sink is not None}
        if sink is not None:
            body["stream_options"] = {"include_usage": True}
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        if max_tokens:
            body["max_tokens"] = max_tokens
        deadline = time.monotonic() + self.settings.total_timeout_s
        attempt = 0
        while True:
            attempt += 1
            try:
                if sink is not None:
                    await sink.reset()
                    text, usage = await self._stream(body, sink, deadline)
                else:
                    text, usage = await self._once(body)
                return self._result(messages, text, usage, attempt)
            except _Fatal as exc:
                raise LlmError(self._redact(str(exc))) from None
            except _Retry as exc:
                if attempt > self.settings.retries:
                    raise LlmError(self._redact(f"{exc} (gave up after {attempt} attempts)")) from None
                delay = exc.retry_after if exc.retry_after is not None else \
                    self.settings.backoff_s * 2 ** (attempt - 1)
                delay = min(delay, self.settings.max_backoff_s)
                if time.monotonic() + delay > deadline:
                    raise LlmError(self._redact(f"{exc} (no time left for another attempt within "
                                                f"{self.settings.total_timeout_s:g} s)")) from None
                await asyncio.sleep(delay)

    def _result(self, messages: list[dict[str, str]], text: str, usage: dict[str, Any] | None,
                attempts: int) -> ChatResult:
        tokens_in = usage.get("prompt_tokens") if usage else None
        tokens_out = usage.get("completion_tokens") if usage else None
        estimated = not isinstance(tokens_in, int) or not isinstance(tokens_out, int)
        if estimated:
            tokens_in = _estimate_tokens("".join(m.get("content", "") for m in messages))
            tokens_out = _estimate_tokens(text)
        cost = prices.cost_usd(self.settings.model, tokens_in, tokens_out, self.settings.price_in_per_mtok,
                               self.settings.price_out_per_mtok)
        return ChatResult(text, int(tokens_in), int(tokens_out), cost, estimated, attempts)

    def _check_status(self, response: httpx.Response, body_text: str) -> None:
        code = response.status_code
        if code < 400:
            return
        detail = body_text.strip().replace("\n", " ")[:160]
        message = f"HTTP {code} from {self.url}" + (f": {detail}" if detail else "")
        if code == 429 or code == 408 or code >= 500:
            raise _Retry(message, retry_after_s(response.headers.get("retry-after")))
        raise _Fatal(message)

    async def _once(self, body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        try:
            response = await self._http.post(self.url, json=body, headers=self._headers())
        except httpx.TimeoutException:
            raise _Retry(f"no answer from {self.url} within {self.settings.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise _Retry(f"cannot reach {self.url}: {exc.__class__.__name__}") from None
        self._check_status(response, response.text)
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retry(f"the answer from {self.url} is not a chat completion") from None
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        return str(text), usage

    async def _stream(self, body: dict[str, Any], sink: StreamSink,
                      deadline: float) -> tuple[str, dict[str, Any] | None]:
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        try:
            async with self._http.stream("POST", self.url, json=body, headers=self._headers()) as response:
                if response.status_code >= 400:
                    self._check_status(response, (await response.aread()).decode("utf-8", "replace"))
                received = 0
                async for chunk in sse.chunks(response.aiter_lines()):
                    received += 1
                    if time.monotonic() > deadline:
                        raise _Retry(f"the stream from {self.url} ran past {self.settings.total_timeout_s:g} s")
                    if chunk.content:
                        parts.append(chunk.content)
                        await sink.delta(chunk.content)
                    if chunk.usage:
                        usage = chunk.usage
                if not received:
                    raise _Retry(f"the answer from {self.url} is not an event stream")
        except httpx.TimeoutException:
            raise _Retry(f"the stream from {self.url} stalled for {self.settings.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise _Retry(f"the stream from {self.url} broke: {exc.__class__.__name__}") from None
        except sse.StreamError as exc:
            raise _Retry(str(exc)) from None
        return "".join(parts), usage
