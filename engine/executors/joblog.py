"""A Ray job's log, turned back into the run's files on this machine.

The job's wrapper (`experiments/remote.py`) sends every line the program appends to
events.jsonl, stdout and stderr, then the files the run wrote and its exit code, each as a line
`@joulelab:<channel> <text>` in the job's log. `JobLog.feed` takes that log in pieces, in order,
from its first character, and appends each line to its file in the run directory.

Exactly once across engine restarts: a new engine reads the job's log again from the start. The
files already hold what an earlier engine wrote (whole lines), so for each file the first
`size` bytes of what the log carries are skipped; everything after is appended. Ingest then
works on events.jsonl as for a local run, with its committed byte offsets.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tarfile
from pathlib import Path

from contract.runfiles import CHANNELS, MARK

log = logging.getLogger("engine.ray")

FILES = {letter: name for name, letter in CHANNELS.items()}
OUTPUTS = ".outputs.b64"  # the run's files while they arrive, base64


def _truncate_to_last_line(path: Path) -> int:
    """Drop a half-written last line (a crash mid-write); the size that remains."""
    try:
        with open(path, "rb+") as fh:
            data = fh.read()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):
                fh.truncate(keep)
            return keep
    except FileNotFoundError:
        return 0


class JobLog:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.consumed = 0            # characters of the job's log taken so far
        self.exit_code: int | None = None
        self.outputs_received = False
        self.notes: list[str] = []
        self._pending = ""           # the log's incomplete last line
        self._pieces: dict[str, str] = {}  # a long line arriving in pieces, per channel
        self._skip = {ch: _truncate_to_last_line(run_dir / name) for ch, name in FILES.items()}
        self._outputs = run_dir / OUTPUTS
        self._outputs.unlink(missing_ok=True)  # the log is read from its start: so are these

    def feed_log(self, whole: str) -> None:
        """The whole log as it stands: what was not taken yet is taken."""
        if len(whole) > self.consumed:
            self.feed(whole[self.consumed:])

    def feed(self, text: str) -> None:
        self.consumed += len(text)
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        if not line.startswith(MARK):
            return  # Ray's own lines ("Runtime env is setting up", ...)
        head, _, text = line[len(MARK):].partition(" ")
        channel, more = head[:1], head[1:] == "+"
        if more:
            self._pieces[channel] = self._pieces.get(channel, "") + text
            return
        text = self._pieces.pop(channel, "") + text
        if channel.lower() in FILES:
            self._append(channel.lower(), text if channel.isupper() else text + "\n")
        elif channel == "a":
            with open(self._outputs, "a") as fh:
                fh.write(text)
        elif channel == "A":
            self._unpack(text)
        elif channel == "x":
            try:
                self.exit_code = int(text.strip())
            except ValueError:
                self.notes.append(f"unreadable exit code {text!r}")

    def _append(self, channel: str, text: str) -> None:
        data = text.encode()
        skip = self._skip[channel]
        if skip:
            if skip >= len(data):
                self._skip[channel] = skip - len(data)
                return
            data, self._skip[channel] = data[skip:], 0
        fd = os.open(self.run_dir / FILES[channel], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)  # one write per line: the ingest never sees half of one
        finally:
            os.close(fd)

    def _unpack(self, text: str) -> None:
        digest, _, size = text.partition(" ")
        try:
            data = base64.b64decode(self._outputs.read_bytes())
        except (OSError, ValueError) as exc:
            self.notes.append(f"the run's outputs could not be read back: {exc}")
            return
        if hashlib.sha256(data).hexdigest() != digest or str(len(data)) != size.strip():
            self.notes.append("the run's outputs arrived damaged (checksum mismatch); they were not unpacked")
            return
        archive = self.run_dir / ".outputs.tar.gz"
        archive.write_bytes(data)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(self.run_dir, filter="data")  # no absolute paths, no ".."
            self.outputs_received = True
        except (tarfile.TarError, OSError) as exc:
            self.notes.append(f"the run's outputs could not be unpacked: {exc}")
        finally:
            archive.unlink(missing_ok=True)
            self._outputs.unlink(missing_ok=True)
