"""The sha256 of a file, read in blocks: the one way the lab and the experiment programs name a
file's content (deliverables' expected hashes, the data versions a run read and `lab reproduce`'s
check of them)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
