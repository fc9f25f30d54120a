"""The wrapper of a run on a Ray node: ``python -m experiments.remote [--shared] -- COMMAND...``.

The engine submits each run as a Ray job whose entrypoint is this wrapper around the usual
``python -m experiments NAME --spec spec.json``. The wrapper:

- drops every variable whose name matches ``$JOULELAB_SECRET_PATTERN`` from the node's
  environment, then applies the run's own variables (``$JOULELAB_RUN_ENV``, JSON), so a run
  sees no secret of the node nor of the engine;
- runs the program in the job's process group and forwards SIGTERM/SIGINT to it (``lab cancel``);
- **streamed mode** (default; the job's working directory is a copy of the run's inputs:
  spec.json with relative paths and deps/ with the outputs of the runs it depends on): runs
  the program in a scratch directory and sends, over its own stdout (the job's log), every
  line the program appends to events.jsonl, stdout and stderr as it appears, then at the end
  the files the run wrote (a gzipped tar, base64 in lines), then its exit code;
- **shared mode** (``--shared``: the lab directory is mounted at the same path on every node
  and the entrypoint starts in the run's directory): the program writes its files in place;
  the wrapper records its pid and exit code there, as a local run's wrapper does.

Every line it sends starts with ``@joulelab:`` and a channel letter (e events, o stdout,
r stderr; upper case: a last line without its newline; a artifacts chunk, A artifacts end,
x exit code). One ``write`` per line, so nothing else in the job's log splits them.
Stdlib only, and nothing of the lab.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from contract.runfiles import CHANNELS, MARK, PROTOCOL_FILES

CHUNK_CHARS = 8000     # base64 characters per artifacts line
MAX_LINE_CHARS = 16000  # longer lines are sent in pieces (the reader joins them back)
POLL_S = 0.1


def send(text: str) -> None:
    data = (text + "\n").encode("utf-8", "replace")
    os.write(1, data)


def run_env() -> dict[str, str]:
    pattern = os.environ.get("JOULELAB_SECRET_PATTERN", "")
    secret = re.compile(pattern, re.IGNORECASE) if pattern else None
    env = {k: v for k, v in os.environ.items() if not (secret and secret.search(k))}
    with contextlib.suppress(ValueError):
        env.update(json.loads(os.environ.get("JOULELAB_RUN_ENV", "{}")))
    for name in ("JOULELAB_RUN_ENV", "JOULELAB_SECRET_PATTERN"):
        env.pop(name, None)
    return env


class Tail:
    """Forwards the complete lines appended to one file (and, at the end, the rest)."""

    def __init__(self, path: Path, channel: str) -> None:
        self.path = path
        self.channel = channel
        self.offset = 0
        self.partial = b""

    def pump(self, final: bool = False) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            self._send(line, self.channel)
        if final and self.partial:
            self._send(self.partial, self.channel.upper())
            self.partial = b""

    def _send(self, line: bytes, channel: str) -> None:
        text = line.decode("utf-8", "replace").replace("\r", "")
        # a very long line goes in pieces, each but the last marked "+" (joined back there)
        while len(text) > MAX_LINE_CHARS:
            send(f"{MARK}{channel}+ {text[:MAX_LINE_CHARS]}")
            text = text[MAX_LINE_CHARS:]
        send(f"{MARK}{channel} {text}")


def send_outputs(workdir: Path, max_bytes: int) -> None:
    """The files the run wrote, as a gzipped tar in base64 lines."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(workdir.iterdir()):
            if path.name not in PROTOCOL_FILES:
                tar.add(path, arcname=path.name)
    data = buffer.getvalue()
    if len(data) > max_bytes:
        send(f"{MARK}r the run's outputs ({len(data) / 2**20:.1f} MB compressed) exceed the "
             f"{max_bytes / 2**20:.0f} MB a job sends back; they stay on the node in {workdir} "
             "(configure [executor] shared_dir for large outputs)")
        return
    text = base64.b64encode(data).decode()
    for i in range(0, len(text), CHUNK_CHARS):
        send(f"{MARK}a {text[i:i + CHUNK_CHARS]}")
    send(f"{MARK}A {hashlib.sha256(data).hexdigest()} {len(data)}")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    shared = "--shared" in args[: args.index("--")] if "--" in args else False
    command = args[args.index("--") + 1:] if "--" in args else []
    if not command:
        print("usage: python -m experiments.remote [--shared] -- COMMAND...", file=sys.stderr)
        return 2
    env = run_env()
    max_bytes = int(float(os.environ.get("JOULELAB_RETURN_MAX_MB", "256")) * 2**20)
    workdir = _workdir(Path.cwd(), shared)
    tails = [] if shared else [Tail(workdir / name, ch) for name, ch in CHANNELS.items()]
    with open(workdir / "stdout", "ab") as out, open(workdir / "stderr", "ab") as err:
        # the program stays in the job's process group: whatever stops the job stops it too
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err)
    if shared:
        (workdir / "pid").write_text(f"{proc.pid}\n")

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while proc.poll() is None:
        for tail in tails:
            tail.pump()
        time.sleep(POLL_S)
    code = proc.returncode
    code = 128 - code if code < 0 else code  # killed by a signal: 128 + its number, as a shell says
    for tail in tails:
        tail.pump(final=True)
    _finish(workdir, shared, code, max_bytes)
    send(f"{MARK}x {code}")
    return code


def _workdir(home: Path, shared: bool) -> Path:
    """Where the run runs: the job's own folder on a shared disk, else a fresh folder with the
    spec and the dependencies' outputs."""
    if shared:
        return home
    workdir = Path(tempfile.mkdtemp(prefix="joulelab-run-"))
    shutil.copy2(home / "spec.json", workdir / "spec.json")
    if (home / "deps").exists():
        os.symlink(home / "deps", workdir / "deps")
    return workdir


def _finish(workdir: Path, shared: bool, code: int, max_bytes: int) -> None:
    """The exit code left on the shared disk, or the outputs sent back and the folder removed."""
    if shared:
        tmp = workdir / "exit_code.tmp"
        tmp.write_text(f"{code}\n")
        tmp.replace(workdir / "exit_code")
        return
    try:
        send_outputs(workdir, max_bytes)
    except OSError as exc:
        send(f"{MARK}r could not send the run's outputs back: {exc}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
