"""The language-model cache (torch-free): tokenizers and pre-trained base models, each in a folder
named by the hash of what made it, built once even when several runs need it at the same time.

The cache lives under the lab's cache folder (the spec's ``cache_dir``, else ``$JOULELAB_CACHE``,
else ``~/.cache/joulelab``), in ``lm/``. A folder is filled in a temporary sibling and renamed into
place, under an exclusive lock, so a reader never sees half of one and a run killed while
building leaves nothing behind that looks finished.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from contract.jsonvalue import JsonObject, JsonValue, json_object


def cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    base = cache_dir or os.environ.get("JOULELAB_CACHE") or Path.home() / ".cache" / "joulelab"
    return Path(base).expanduser() / "lm"


@contextmanager
def build_once(path: Path, waiting: Callable[[], None] | None = None) -> Iterator[Path | None]:
    """Yield None when ``path`` exists; else a fresh temporary folder to fill, published as
    ``path`` when the block ends without an error. A run that finds another one building the
    same folder waits for it (``waiting`` is called once first) and then gets None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.is_dir():
                yield None
                return
            for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a run killed while building
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
            try:
                yield tmp
                os.replace(tmp, path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_json(path: Path, data: Mapping[str, JsonValue]) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_json(path: Path) -> JsonObject:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return json_object(data) or {}


def folder_bytes(path: Path, names: Callable[[Path], bool] | None = None) -> int:
    """Bytes on disk of the files in ``path`` (recursively), optionally only those ``names`` keeps."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and (names is None or names(f)))
