"""The code that runs: the experiment package's source files and their content hash.

The package is located without importing it (importlib's finder only), so the engine stays free
of torch; the hash goes into every run's spec and the files into the experiment's git record.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

SOURCE_SUFFIXES = (".py", ".toml", ".json")


class CodeNotFoundError(LookupError):
    """The experiment package is not installed where this Python looks."""


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise CodeNotFoundError(f"cannot find the experiment package {module!r} (is joulelab installed?)")
    return Path(next(iter(spec.submodule_search_locations)))


def source_files(module: str) -> dict[str, bytes]:
    """Every source file of the package, by path relative to its parent directory."""
    root = package_dir(module)
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts:
            files[str(path.relative_to(root.parent))] = path.read_bytes()
    return files


def tree_hash(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


class CodeHasher:
    """The package hash, recomputed only when a source file changed (checked by mtimes)."""

    def __init__(self, module: str) -> None:
        self.module = module
        self._stamp: tuple[tuple[str, float], ...] | None = None
        self._hash = ""

    def current(self) -> str:
        try:
            root = package_dir(self.module)
        except CodeNotFoundError:
            return ""
        stamp = tuple((str(p), p.stat().st_mtime) for p in sorted(root.rglob("*"))
                      if p.is_file() and p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts)
        if stamp != self._stamp:
            self._stamp, self._hash = stamp, tree_hash(source_files(self.module))
        return self._hash
