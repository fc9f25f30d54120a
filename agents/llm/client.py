"""An OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, llama.cpp server).

Every call streams (server-sent events), so a dead endpoint is told from a slow one quickly:
the connection must open within `connect_timeout_s`, the answer's first line must arrive within
`first_byte_timeout_s` of the request, and a live stream may not fall silent for longer than
`stall_timeout_s`; `total_timeout_s` bounds the whole call. 429, 408, 5xx, timeouts and broken
streams are retried with exponential backoff (Retry-After honoured) up to `retries` times.
Each silent wait and each retry is reported to a `Progress` as it happens; the call gives up
with `LlmError` (one line, never the key) when the attempts or the call's deadline run out.
Tokens and cost are accounted per call. An endpoint that ignores `stream` and answers with one
JSON body is understood too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from agents.llm import prices, sse
from agents.llm.endpoint import endpoint_label
from agents.research_settings import KEY_VARIABLES, LlmSettings
from contract.jsonvalue import JsonObject


class LlmError(RuntimeError):
    """The endpoint could not give an answer; the message says why, in one line. `refused`: the
    endpoint refused the key (HTTP 401/403), a mistake of the lab's set-up, not an outage."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class StreamSink(Protocol):
    async def reset(self) -> None:
        """A new attempt starts: forget what the previous one streamed."""

    async def delta(self, text: str) -> None:
        """More text arrived."""


class Progress(Protocol):
    """Where a call reports its waits and retries as they happen (the dialogue shows them)."""

    async def waiting(self, attempt: int, attempts: int, silent_s: float, limit_s: float, phase: str) -> None:
        """Attempt `attempt` has heard nothing for `silent_s` (it gives up at `limit_s`);
        `phase` is "first byte" (no answer yet) or "stream" (a stream fell silent)."""

    async def failed(self, attempt: int, attempts: int, reason: str, retry_in_s: float | None) -> None:
        """Attempt `attempt` failed; the next starts in `retry_in_s` (None: the call gives up)."""


@dataclass
class ChatResult:
    text: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    usage_estimated: bool
    attempts: int


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _FatalError(Exception):
    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class _Collect:
    """The sink of a call nobody watches token by token (a structured decision)."""

    async def reset(self) -> None:
        pass

    async def delta(self, text: str) -> None:
        pass


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


class _Watch:
    """The silence of one attempt: when a byte last arrived, and whether any has."""

    def __init__(self) -> None:
        self.since = time.monotonic()
        self.answered = False
        self.lines = 0

    def heard(self, line: str) -> None:
        self.since = time.monotonic()
        self.answered = True
        self.lines += bool(line.strip())


class ChatClient:
    def __init__(self, settings: LlmSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if missing := settings.missing():
            raise LlmError(missing)
        self.settings = settings
        self.url = str(settings.base_url).rstrip("/") + "/chat/completions"
        self.label = endpoint_label(settings)
        connect = min(settings.connect_timeout_s, settings.first_byte_s)
        # reads are bounded by the first-byte and stall limits below (asyncio), not by httpx
        timeout = httpx.Timeout(None, connect=connect, pool=connect, write=max(connect, settings.stall_s))
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        return headers

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "[key]") if key else text

    async def chat(self, messages: list[dict[str, str]], *, json_mode: bool = False,
                   sink: StreamSink | None = None, max_tokens: int | None = None,
                   progress: Progress | None = None, attempts: int | None = None) -> ChatResult:
        """One answer. `attempts` (default: 1 + `retries`) caps the tries of this call."""
        body: JsonObject = {"model": self.settings.model, "messages": messages,
                           "temperature": self.settings.temperature, "stream": True,
                           "stream_options": {"include_usage": True}}
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        if max_tokens:
            body["max_tokens"] = max_tokens
        sink = sink or _Collect()
        total = self.settings.total_timeout_s
        deadline = time.monotonic() + total
        attempts = max(1, attempts or self.settings.attempts)
        attempt = 0
        while True:
            attempt += 1
            try:
                await sink.reset()
                text, usage = await self._attempt(body, sink, deadline, attempt, attempts, progress)
                return self._result(messages, text, usage, attempt)
            except _FatalError as exc:
                reason = self._redact(str(exc))
                if progress is not None:
                    await progress.failed(attempt, attempts, reason, None)
                raise LlmError(reason, refused=exc.refused) from None
            except _RetryableError as exc:
                reason = self._redact(str(exc))
                delay = exc.retry_after if exc.retry_after is not None else \
                    self.settings.backoff_s * 2 ** (attempt - 1)
                delay = min(delay, self.settings.max_backoff_s)
                last = attempt >= attempts
                late = time.monotonic() + delay >= deadline
                if progress is not None:
                    await progress.failed(attempt, attempts, reason, None if last or late else delay)
                if last:
                    raise LlmError(f"{reason} (gave up after {attempt} attempt{'s' * (attempt > 1)})") from None
                if late:
                    raise LlmError(f"{reason} (no time left for another attempt within {total:g} s)") from None
                await asyncio.sleep(delay)

    async def _attempt(self, body: JsonObject, sink: StreamSink, deadline: float, attempt: int,
                       attempts: int, progress: Progress | None) -> tuple[str, sse.Usage | None]:
        watch = _Watch()
        first, stall = self.settings.first_byte_s, self.settings.stall_s
        reporter = asyncio.ensure_future(self._report_silence(watch, attempt, attempts, progress)) \
            if progress is not None else None
        loop = asyncio.get_running_loop()
        start = loop.time()
        total_left = deadline - time.monotonic()
        try:
            async with asyncio.timeout_at(start + min(first, total_left)) as limit:
                def heard(line: str) -> None:
                    watch.heard(line)
                    limit.reschedule(min(loop.time() + stall, start + total_left))

                return await self._exchange(body, sink, heard)
        except TimeoutError:
            if time.monotonic() >= deadline - 0.01:
                raise _RetryableError(f"the answer from {self.label} ran past {self.settings.total_timeout_s:g} s") from None
            if not watch.answered:
                raise _RetryableError(f"no answer from {self.label} within {first:g} s") from None
            raise _RetryableError(f"the stream from {self.label} stalled: nothing for {stall:g} s after "
                         f"{watch.lines} line(s) of it") from None
        finally:
            if reporter is not None:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter

    async def _report_silence(self, watch: _Watch, attempt: int, attempts: int, progress: Progress) -> None:
        every = self.settings.wait_notice_s
        reported = 0.0
        while True:
            await asyncio.sleep(every / 4)
            silent = time.monotonic() - watch.since
            if silent >= every and silent - reported >= every * 0.999:
                reported = silent
                phase = "stream" if watch.answered else "first byte"
                limit = self.settings.stall_s if watch.answered else self.settings.first_byte_s
                await progress.waiting(attempt, attempts, silent, limit, phase)
            elif silent < every:
                reported = 0.0

    async def _exchange(self, body: JsonObject, sink: StreamSink,
                        heard: Callable[[str], None]) -> tuple[str, sse.Usage | None]:
        parts: list[str] = []
        usage: sse.Usage | None = None
        try:
            async with self._http.stream("POST", self.url, json=body, headers=self._headers()) as response:
                if response.status_code >= 400:
                    self._check_status(response, (await response.aread()).decode("utf-8", "replace"))
                kind = response.headers.get("content-type", "")
                if "json" in kind and "event-stream" not in kind:
                    raw = await response.aread()
                    heard("{}")
                    text, usage = self._completion(raw)
                    if text:
                        await sink.delta(text)
                    return text, usage
                usage = await self._stream(response, sink, heard, parts)
        except httpx.TimeoutException:
            raise _RetryableError(f"cannot connect to {self.label} within "
                                  f"{min(self.settings.connect_timeout_s, self.settings.first_byte_s):g} s") from None
        except httpx.HTTPError as exc:
            raise _RetryableError(transport_failure(self.label, exc, bool(parts))) from None
        except sse.StreamError as exc:
            raise _RetryableError(str(exc)) from None
        return "".join(parts), usage

    async def _stream(self, response: httpx.Response, sink: StreamSink, heard: Callable[[str], None],
                      parts: list[str]) -> sse.Usage | None:
        """Read an event stream into ``parts``, each piece passed on to ``sink`` as it comes; its usage."""
        async def lines() -> AsyncIterator[str]:
            async for line in response.aiter_lines():
                heard(line)
                yield line

        usage: sse.Usage | None = None
        received = 0
        async for chunk in sse.chunks(lines()):
            received += 1
            if chunk.content:
                parts.append(chunk.content)
                await sink.delta(chunk.content)
            if chunk.usage:
                usage = chunk.usage
        if not received:
            raise _RetryableError(f"the answer from {self.label} is not an event stream")
        return usage

    def _completion(self, raw: bytes) -> tuple[str, sse.Usage | None]:
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise _RetryableError(f"the answer from {self.label} is not a chat completion") from None
        return str(text), sse.Usage.of(data.get("usage") if isinstance(data, dict) else None)

    def _result(self, messages: list[dict[str, str]], text: str, usage: sse.Usage | None,
                attempts: int) -> ChatResult:
        tokens_in = usage.prompt_tokens if usage else None
        tokens_out = usage.completion_tokens if usage else None
        estimated = tokens_in is None or tokens_out is None
        if tokens_in is None or tokens_out is None:
            tokens_in = _estimate_tokens("".join(str(m.get("content", "")) for m in messages))
            tokens_out = _estimate_tokens(text)
        cost = prices.cost_usd(self.settings.model, tokens_in, tokens_out, self.settings.price_in_per_mtok,
                               self.settings.price_out_per_mtok)
        return ChatResult(text, tokens_in, tokens_out, cost, estimated, attempts)

    def _check_status(self, response: httpx.Response, body_text: str) -> None:
        code = response.status_code
        if code < 400:
            return
        detail = provider_message(body_text)
        if code in (401, 403):
            raise _FatalError(refused_message(self.label, code, self.settings.api_key_env, detail), refused=True)
        if code == 429:
            message = f"{self.label} is limiting the lab's requests (HTTP 429, too many requests or tokens)" + \
                (f": {detail}" if detail else "")
        else:
            message = f"HTTP {code} from {self.label}" + (f": {detail}" if detail else "")
        if code == 429 or code == 408 or code >= 500:
            raise _RetryableError(message, retry_after_s(response.headers.get("retry-after")))
        raise _FatalError(message)


DETAIL_CHARS = 160


def provider_message(body_text: str, limit: int = DETAIL_CHARS) -> str:
    """The provider's own words from an error body, on one line: the `error.message` (or
    `message`, `detail`) of a JSON body, else the text; whitespace (escaped newlines included)
    folded, shortened at a word with an ellipsis."""
    text = body_text.strip()
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        found = _message_in(data)
        if found:
            text = found
    text = " ".join(text.replace("\\n", " ").replace("\\t", " ").split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[:cut.rfind(" ")]
    return cut.rstrip(" ,;:.") + "…"


def _message_in(data: Any) -> str | None:
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "msg"):
            found = _message_in(data.get(key)) if key in data else None
            if found:
                return found
    if isinstance(data, list) and data:
        return _message_in(data[0])
    return None


def refused_message(label: str, code: int, key_env: str, detail: str = "") -> str:
    """HTTP 401/403 in words: the key is wrong or missing, where it came from, what to check."""
    source = (f"the key came from ${key_env}" if key_env else
              f"no key is set: none of {', '.join('$' + v for v in KEY_VARIABLES)} holds one")
    said = f"; it said: {detail}" if detail else ""
    return f"the endpoint refused the key: check [llm] api_key_env ({source}; HTTP {code} from {label}{said})"


def transport_failure(label: str, exc: httpx.HTTPError, streaming: bool) -> str:
    """A failed connection in words (never an exception's class name)."""
    cause = str(exc).lower()
    if isinstance(exc, httpx.ConnectError):
        if "refused" in cause or "connection attempts failed" in cause:
            why = "the connection was refused (is the server running, on that port?)"
        elif "name" in cause and ("resolution" in cause or "known" in cause or "resolve" in cause):
            why = "its host name does not resolve (check [llm] base_url)"
        elif "ssl" in cause or "certificate" in cause:
            why = "the TLS handshake failed (check the certificate, or http:// versus https://)"
        else:
            why = "the connection could not be opened"
        return f"cannot connect to {label}: {why}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return (f"the connection to {label} broke: the server closed it mid-answer" if streaming
                else f"the connection to {label} broke: the server closed it without an answer")
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.NetworkError)):
        return f"the connection to {label} broke{' mid-answer' if streaming else ''}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"cannot connect to {label}: its URL is not http:// or https:// (check [llm] base_url)"
    return f"the request to {label} {'broke' if streaming else 'failed'}"
