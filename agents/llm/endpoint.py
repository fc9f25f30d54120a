"""How the lab names a language-model endpoint: a key for its records (model and URL without
credentials or query) and a short label for messages. No httpx here: the offline lab reads it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from agents.research_settings import LlmSettings


def _netloc(base_url: str) -> tuple[str, str]:
    try:
        url = urlsplit(base_url)
        port = url.port
    except ValueError:  # a malformed port: name it as written, without credentials
        return "", base_url.rsplit("@", 1)[-1]
    netloc = (url.hostname or "") + (f":{port}" if port else "")
    return url.scheme, netloc + url.path.rstrip("/")


def endpoint_key(settings: LlmSettings) -> str:
    scheme, where = _netloc(str(settings.base_url or ""))
    return f"{settings.model} @ {scheme + '://' if scheme else ''}{where}"


def endpoint_label(settings: LlmSettings) -> str:
    """`model at host:port`, as the dialogue says it."""
    _, where = _netloc(str(settings.base_url or ""))
    host = where.split("/", 1)[0]
    return f"{settings.model} at {host or settings.base_url}"


_BRIEF = (  # (what the reason says, its few words); the first that matches names it
    (re.compile(r"refused the key"), "key refused: check [llm] api_key_env"),
    (re.compile(r"HTTP 429"), "rate-limited (HTTP 429)"),
    (re.compile(r"connection was refused"), "connection refused"),
    (re.compile(r"does not resolve"), "host name unknown"),
    (re.compile(r"cannot connect to .* within (\S+ s)"), "no connection in {0}"),
    (re.compile(r"cannot connect"), "cannot connect"),
    (re.compile(r"no answer from .* within (\S+ s)"), "no answer in {0}"),
    (re.compile(r"stalled"), "stream stalled"),
    (re.compile(r"ran past (\S+ s)"), "answer over {0}"),
    (re.compile(r"connection to .* broke"), "connection broke"),
    (re.compile(r"budget"), "budget used up"),
    (re.compile(r"HTTP (\d{3})"), "HTTP {0}"),
    (re.compile(r"not an event stream|not a chat completion"), "unreadable answer"),
)
BRIEF_CHARS = 40


def brief_reason(reason: str) -> str:
    """A failure's reason in a few words, for a status line (the full reason is in the dialogue)."""
    for pattern, words in _BRIEF:
        found = pattern.search(reason)
        if found:
            return words.format(*found.groups())
    text = " ".join(reason.split())
    return text if len(text) <= BRIEF_CHARS else text[:BRIEF_CHARS - 1].rstrip() + "…"
