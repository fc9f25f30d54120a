"""How the lab names a language-model endpoint: a key for its records (model and URL without
credentials or query) and a short label for messages. No httpx here: the offline lab reads it."""

from __future__ import annotations

from urllib.parse import urlsplit

from agents.settings import LlmSettings


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
