"""Helpers of the research team's tests: a misbehaving OpenAI-compatible server on 127.0.0.1 and
lab configurations for the sprints."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = dict[str, Any]


class FakeLLM:
    """Speaks chat completions (plain and streamed). Each request takes the next scripted
    behaviour; when the script is empty, `default(request)` answers.

    Misbehaviours: `status` (an HTTP error), `raw` (a body that is no completion), `stall` (stop
    after the first chunk for that long, then close), `hang` (read the request and never answer),
    `hang_after` (stream that many chunks, then fall silent with the connection open), `delay`
    (between chunks). A hanging handler lets go when the server closes."""

    def __init__(self) -> None:
        self.script: list[Behaviour] = []
        self.requests: list[dict[str, Any]] = []
        self.default: Callable[[dict[str, Any]], Behaviour] = lambda req: {"content": "Noted."}
        self._lock = threading.Lock()
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                request = {"path": self.path, "headers": dict(self.headers), "body": body, "t": time.monotonic(),
                           "wall": time.time()}
                with outer._lock:
                    outer.requests.append(request)
                    behaviour = outer.script.pop(0) if outer.script else outer.default(request)
                try:
                    if behaviour.get("hang"):
                        outer.closing.wait(600)  # accepted, read, never answered
                        return
                    outer._answer(self, body, behaviour, outer.closing)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, body: dict[str, Any], b: Behaviour, closing: threading.Event) -> None:
        if "status" in b:
            h.send_response(b["status"])
            if "retry_after" in b:
                h.send_header("Retry-After", str(b["retry_after"]))
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            h.wfile.write(json.dumps({"error": {"message": b.get("message", "fake failure")}}).encode())
            return
        if "raw" in b:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            h.wfile.write(b["raw"].encode())
            return
        content = b.get("content", "")
        usage = b.get("usage", {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120})
        if not body.get("stream"):
            if b.get("stall"):
                time.sleep(b["stall"])
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            h.wfile.write(json.dumps({"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": usage}).encode())
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        pieces = b.get("chunks") or [content[i:i + 8] for i in range(0, len(content), 8)]
        for i, piece in enumerate(pieces):
            chunk = {"id": "x", "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            h.wfile.flush()
            if b.get("stall") and i == 0:
                time.sleep(b["stall"])
                return
            if b.get("hang_after") == i + 1:
                closing.wait(600)  # silent with the connection open: a stream stalled mid-way
                return
            if b.get("delay"):
                time.sleep(b["delay"])
        if b.get("bad_chunk"):
            h.wfile.write(b"data: {not json\n\n")
        h.wfile.write(f"data: {json.dumps({'id': 'x', 'choices': [], 'usage': usage})}\n\n".encode())
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()


def research_config(*, autonomy: int = 3, catalog: list[str] | None = None, seeds: int = 3,
                    profile: str = "smoke", per_hour: int = 20, kwh: float = 1.0, extra: str = "",
                    background: bool = False) -> str:
    """A config.toml for the team's tests: fast engine, the given research settings."""
    names = ", ".join(f'"{n}"' for n in (catalog or []))
    return f"""
[slots]
cpu = 2
threads_per_run = 1

[runs]
timeout_s = 120
retries = 0

[engine]
monitor_interval_s = 1.0

[research]
autonomy = {autonomy}
background = {str(background).lower()}
profile = "{profile}"
seeds = {seeds}
catalog = [{names}]
interval_s = 0.5

[budgets]
experiments_per_hour = {per_hour}
kwh_per_day = {kwh}
llm_usd_per_day = 1.0
{extra}
"""
