"""The version of each dataset a run read: the sha256 of its files and where they came from, so
the record says which data a result was measured on and `lab reproduce` can tell when it changed.

A version is a `DataVersion`, written into the result as ``{"name", "source", "sha256", "path",
"bytes"}``: `source` is "shipped" (a file of this package), "user" (a file named by a parameter),
"cache" (a download in the lab's cache), "package" (a file another installed package ships) or
"generated" (made from the seed: nothing to hash, `sha256` is null)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from contract.digests import file_sha256
from contract.jsonvalue import JsonObject

from .declare import ParamValues


@dataclass(frozen=True)
class DataVersion:
    """One dataset file a run read: its name, where it came from, its sha256 and size (None: no file)."""

    name: str
    source: str
    sha256: str | None
    path: str | None
    bytes: int | None

    def to_json(self) -> JsonObject:
        return asdict(self)


def as_json(versions: list[DataVersion]) -> list[JsonObject]:
    """The versions as the result holds them."""
    return [v.to_json() for v in versions]


def version(name: str, source: str, path: Path | None) -> DataVersion:
    if path is None or not path.is_file():
        return DataVersion(name, source, None, None if path is None else str(path), None)
    return DataVersion(name, source, file_sha256(path), str(path.resolve()), path.stat().st_size)


def text_data(data: str) -> list[DataVersion]:
    """The language-model entries' fine-tuning data: the user's file, or the shipped text."""
    from .lm.corpus import SHIPPED, resolve_path

    if data.strip():
        path = resolve_path(data)
        return [version(path.name, "user", path)]
    return [version("tinyshakespeare", "shipped", SHIPPED)]


def _cache(cache_dir: str | None) -> Path:
    return Path(cache_dir or os.environ.get("JOULELAB_CACHE") or Path.home() / ".cache" / "joulelab")


def image_data(name: str, cache_dir: str | None) -> list[DataVersion]:
    """The image entries' datasets: scikit-learn's digits (the CSV it ships), the generated set,
    or the downloads in the lab's cache."""
    if name == "digits":
        spec = importlib.util.find_spec("sklearn")
        roots = list(spec.submodule_search_locations or []) if spec is not None else []
        csv = Path(roots[0]) / "datasets" / "data" / "digits.csv.gz" if roots else None
        return [version("digits", "package", csv)]
    if name == "synthetic":
        return [version("synthetic", "generated", None)]
    cache = _cache(cache_dir)
    if name == "cifar10":
        return [version("cifar10", "cache", cache / "cifar-10-python.tar.gz")]
    npz = cache / f"{name}.npz"
    if npz.is_file():
        return [version(name, "cache", npz)]
    folder = cache / name
    return [version(f"{name}/{f.name}", "cache", f) for f in sorted(folder.glob("*")) if f.is_file()] or \
        [version(name, "cache", npz)]


def for_params(params: ParamValues, cache_dir: str | None) -> list[DataVersion]:
    """The data a run of these parameters reads (a run that reads something else says so itself)."""
    if isinstance(params.get("data"), str) or params.get("dataset") == "tinyshakespeare":
        return text_data(str(params.get("data") or ""))
    name = params.get("dataset")
    return image_data(str(name), cache_dir) if isinstance(name, str) else []
