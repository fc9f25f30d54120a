"""Whether a file (or a model or tokenizer folder) loads, judged from its format without importing
torch: a torch checkpoint is a sound zip archive whose `data.pkl` is a well-formed pickle (or a
legacy pickle) with every storage it refers to present, safetensors has a consistent header, a
tokenizer (tokenizer.json, vocab.json, vocab.txt, merges.txt, tokenizer_config.json, or a folder
of them) parses, a Hugging Face model folder (`save_pretrained`: config.json and its weights,
whole or sharded, or a PEFT adapter) has a readable config and loadable weights, and JSON /
JSONL / CSV / NumPy files parse; any other file is non-empty and readable. Nothing in a file is
ever executed: every class a pickle names becomes an inert stand-in."""

from __future__ import annotations

import csv
import io
import json
import pickle
import pickletools
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

MAX_READ = 256 * 1024 * 1024  # a file larger than this is judged from its header only
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "merges.txt", "tokenizer_config.json",
                   "special_tokens_map.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")
#: the weights a model folder may hold, one of these sets (sharded: an index names the shards)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
MODEL_CONFIGS = ("config.json", "adapter_config.json")


def _pickle_problem(data: bytes | IO[bytes]) -> str | None:
    """Whether a pickle stream is well formed, read opcode by opcode (nothing is executed)."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        for opcode, _, _ in pickletools.genops(stream):
            if opcode.name == "STOP":
                return None
    except Exception as exc:  # pickletools raises ValueError and friends on a broken stream
        return f"a broken pickle ({str(exc)[:60]})"
    return "a pickle without its end"


#: bytes per element of torch's storage types (the name before "Storage"); Untyped counts bytes
ELEMENT_BYTES = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1,
                 "Byte": 1, "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16, "QInt8": 1, "QUInt8": 1, "QInt32": 4,
                 "QUInt4x2": 1, "QUInt2x4": 1, "Untyped": 1, "Float8_e4m3fn": 1, "Float8_e5m2": 1,
                 "Float8_e4m3fnuz": 1, "Float8_e5m2fnuz": 1, "UInt16": 2, "UInt32": 4, "UInt64": 8}


class _Inert(dict):  # type: ignore[type-arg]
    """What every class in a checkpoint's pickle becomes: accepts any construction and state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __setstate__(self, state: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


class _CheckpointReader(pickle.Unpickler):
    """Reads a torch checkpoint's pickle without torch and without running any of its code:
    every global is an inert stand-in; the storages it refers to are collected."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.storages: list[tuple[str, int, int]] = []  # (key, elements, bytes per element)

    def find_class(self, module: str, name: str) -> Any:
        return type(name, (_Inert,), {"__module__": "inert." + module})

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            kind = getattr(pid[1], "__name__", str(pid[1]))
            size = ELEMENT_BYTES.get(kind.removesuffix("Storage"))
            if size is None or not isinstance(pid[4], int):
                raise pickle.UnpicklingError(f"a storage of unknown type {kind}")
            self.storages.append((str(pid[2]), pid[4], size))
        return _Inert()


def _read_checkpoint_pickle(stream: Any) -> tuple[_CheckpointReader | None, str | None]:
    reader = _CheckpointReader(stream)
    try:
        reader.load()
    except RecursionError:
        return None, "a pickle nested too deeply"
    except Exception as exc:  # a broken or truncated pickle: any error says it does not load
        return None, f"a broken pickle ({str(exc)[:60] or exc.__class__.__name__})"
    return reader, None


def _torch_zip(path: Path) -> str | None:
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad:
            return f"corrupt member {bad}"
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl")]
        if not pickles:
            return None if path.suffix.lower() == ".zip" else "a zip archive without data.pkl (not a torch.save checkpoint)"
        prefix = pickles[0][: -len("data.pkl")]
        with archive.open(pickles[0]) as fh:
            reader, why = _read_checkpoint_pickle(io.BytesIO(fh.read(MAX_READ)))
        if reader is None:
            return why
        for key, elements, size in reader.storages:
            member = f"{prefix}data/{key}"
            if member not in names:
                return f"storage {key} is missing"
            if archive.getinfo(member).file_size < elements * size:
                return f"storage {key} holds {archive.getinfo(member).file_size} of {elements * size} bytes"
    return None


def _torch_legacy(path: Path) -> str | None:
    """torch.save's format before 1.6: magic number, protocol, system info, the object, the
    storage keys (five pickles), then each storage as its element count and its bytes."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        for _ in range(3):
            if (why := _read_checkpoint_pickle(fh)[1]) is not None:
                return why
        reader, why = _read_checkpoint_pickle(fh)
        if reader is None:
            return why
        try:
            keys = pickle.Unpickler(fh).load()
        except Exception as exc:
            return f"no storage keys ({str(exc)[:60] or exc.__class__.__name__})"
        if not isinstance(keys, list):
            return "no storage keys"
        sizes = {key: elements * each for key, elements, each in reader.storages}
        for key in keys:
            head = fh.read(8)
            if len(head) < 8:
                return f"cut off before storage {key}"
            (elements,) = struct.unpack("<q", head)
            need = sizes.get(str(key), elements)
            if fh.tell() + need > size:
                return f"cut off in storage {key}"
            fh.seek(need, io.SEEK_CUR)
    return None


def _safetensors(path: Path) -> str | None:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return "too short for a safetensors header"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8 or length > 100 * 1024 * 1024:
            return f"a header of {length} bytes in a file of {size}"
        try:
            header = json.loads(fh.read(length))
        except ValueError:
            return "a header that is not JSON"
    if not isinstance(header, dict):
        return "a header that is not a JSON object"
    data_len = size - 8 - length
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_len and isinstance(info.get("dtype"), str)
                and isinstance(info.get("shape"), list)):
            return f"tensor {name!r} has no valid dtype, shape and offsets"
        end = max(end, offsets[1])
    if end != data_len:
        return f"tensors end at byte {end} of {data_len}"
    return None


def _model_dir(path: Path) -> str | None:
    """A folder written by save_pretrained: its config reads, its weights load (every shard an
    index names), and the tokenizer saved beside it, if any, parses."""
    config = next(path / n for n in MODEL_CONFIGS if (path / n).is_file())
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return f"{config.name} cannot be read ({str(exc)[:60]})"
    if not isinstance(data, dict):
        return f"{config.name} is not a JSON object"
    weights = [path / n for n in WEIGHT_FILES if (path / n).is_file()]
    for index in (path / n for n in WEIGHT_INDEXES if (path / n).is_file()):
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            return f"{index.name} is not a weight index (no weight_map)"
        missing = [s for s in shards if not (path / str(s)).is_file()]
        if missing:
            return f"{index.name} names {', '.join(map(str, missing[:3]))}, which is missing"
        weights += [path / str(s) for s in shards]
    if not weights:
        return f"a model folder without weights ({', '.join(WEIGHT_FILES[:2])} or shards with their index)"
    for f in weights:
        if (why := loadable(f)) is not None:
            return f"{f.name}: {why}"
    if any((path / n).exists() for n in TOKENIZER_FILES):
        return _tokenizer_dir(path)
    return None


def _tokenizer_dir(path: Path) -> str | None:
    files = [path / n for n in TOKENIZER_FILES if (path / n).exists()]
    if not files:
        return f"a folder without tokenizer files ({', '.join(TOKENIZER_FILES[:4])}, ...)"
    for f in files:
        if (why := loadable(f)) is not None:
            return f"{f.name}: {why}"
    return None


def loadable(path: Path) -> str | None:
    """Why the file (or tokenizer folder) cannot be loaded, or None; judged from its format."""
    try:
        if path.is_dir():
            return _model_dir(path) if any((path / n).is_file() for n in MODEL_CONFIGS) else _tokenizer_dir(path)
        if path.stat().st_size == 0:
            return "empty file"
        if path.name.lower() == "tokenizer.json":
            return _tokenizers_file(path)
        return _BY_SUFFIX.get(path.suffix.lower(), _readable)(path)
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, csv.Error, struct.error) as exc:
        return str(exc)[:120] or exc.__class__.__name__


def _tokenizers_file(path: Path) -> str | None:
    data = json.loads(path.read_text())
    return None if isinstance(data, dict) and isinstance(data.get("model"), dict) else \
        "not a tokenizers file (no 'model' object)"


def _json(path: Path) -> str | None:
    json.loads(path.read_text())
    return None


def _jsonl(path: Path) -> str | None:
    for line in path.read_text().splitlines():
        if line.strip():
            json.loads(line)
    return None


def _csv(path: Path) -> str | None:
    with open(path, newline="") as fh:
        list(csv.reader(fh))
    return None


def _text(path: Path) -> str | None:
    """A text file (vocab.txt, merges.txt, notes) is UTF-8."""
    path.read_text(encoding="utf-8")
    return None


def _checkpoint(path: Path) -> str | None:
    """A torch checkpoint (.pt, .pth, .ckpt, .bin): a zip archive or a legacy pickle; a .zip or
    .npz archive."""
    suffix = path.suffix.lower()
    if zipfile.is_zipfile(path):
        return _torch_zip(path) if suffix != ".npz" else _npz(path)
    if suffix in (".zip", ".npz"):
        return "not a zip archive"
    with open(path, "rb") as fh:
        if fh.read(1) != b"\x80":
            return "neither a zip archive (torch.save) nor a pickle"
    return _torch_legacy(path)


def _pickle_file(path: Path) -> str | None:
    with open(path, "rb") as fh:
        return _pickle_problem(fh.read(MAX_READ))


def _npy(path: Path) -> str | None:
    with open(path, "rb") as fh:
        return None if fh.read(6) == b"\x93NUMPY" else "not a NumPy .npy file"


def _readable(path: Path) -> str | None:
    """Any other file: non-empty (checked before) and readable."""
    with open(path, "rb") as fh:
        fh.read(1)
    return None


def _npz(path: Path) -> str | None:
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad:
            return f"corrupt member {bad}"
        if not all(n.endswith(".npy") for n in archive.namelist()):
            return "a zip archive with members that are not .npy arrays"
    return None


#: how a file is judged, by its suffix (lower case); any other suffix: _readable
_BY_SUFFIX: dict[str, Callable[[Path], str | None]] = {
    ".json": _json, ".jsonl": _jsonl, ".csv": _csv, ".txt": _text, ".md": _text, ".safetensors": _safetensors,
    ".pt": _checkpoint, ".pth": _checkpoint, ".ckpt": _checkpoint, ".bin": _checkpoint, ".zip": _checkpoint,
    ".npz": _checkpoint, ".pkl": _pickle_file, ".pickle": _pickle_file, ".npy": _npy,
}
