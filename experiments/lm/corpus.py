"""Text for the language-model entries (torch-free).

- Tiny Shakespeare ships with the package (``data/tinyshakespeare.txt.gz``, see its SOURCE.md).
  Its speeches are split in two: the *new domain* is every speech of a set of held-out speakers
  (by default the cast of Romeo and Juliet, about 11 % of the text); the *pre-training corpus* is
  every other speech. Each is split by position (never shuffled): pre-training 90/5/5, the new
  domain 80/10/10 (train / validation / test).
- A user's own data (``-p data=PATH``): a plain-text file, split by position 80/10/10; or a JSONL
  file of Alpaca-style instruction records, split by record position 80/10/10. Every record is
  checked before anything trains; a bad line is one error naming it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..harness.errors import ExperimentError

SHIPPED = Path(__file__).resolve().parent / "data" / "tinyshakespeare.txt.gz"
SHIPPED_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
PRETRAIN_FRACTIONS = (0.9, 0.05, 0.05)
DOMAIN_FRACTIONS = (0.8, 0.1, 0.1)
#: the held-out speakers of the default new domain: the cast of Romeo and Juliet
ROMEO_AND_JULIET = ("ROMEO", "JULIET", "Nurse", "MERCUTIO", "CAPULET", "LADY CAPULET",
                    "FRIAR LAURENCE", "BENVOLIO", "TYBALT", "MONTAGUE", "LADY MONTAGUE", "PARIS",
                    "BALTHASAR", "SAMPSON", "GREGORY", "ABRAHAM", "FRIAR JOHN")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
MIN_RECORDS = 3
MIN_TEXT_CHARS = 200
_SPEAKER = re.compile(r"^[A-Za-z][A-Za-z' .,-]{0,39}:$")


class DataError(ExperimentError):
    """The user's data cannot be used; the message is one line naming the file (and line)."""


@dataclass(frozen=True)
class Speech:
    speaker: str   # whitespace-normalised, as written ("ROMEO", "Nurse")
    text: str      # the whole block, header line included, without the blank line after it


@dataclass(frozen=True)
class TextSplits:
    """Running text cut by position into train / validation / test."""
    name: str
    train: str
    val: str
    test: str
    digest: str    # identifies the source text and the cut (cache keys)
    kind: str = "text"

    def sizes(self) -> dict[str, int]:
        return {"train_chars": len(self.train), "val_chars": len(self.val), "test_chars": len(self.test)}


@dataclass(frozen=True)
class Example:
    """One instruction record: the loss and the perplexity count only the response."""
    prompt: str
    response: str
    line: int
    domain: str | None = None


@dataclass(frozen=True)
class InstructionSplits:
    name: str
    train: tuple[Example, ...]
    val: tuple[Example, ...]
    test: tuple[Example, ...]
    digest: str
    kind: str = "instructions"

    def sizes(self) -> dict[str, int]:
        return {"train_records": len(self.train), "val_records": len(self.val), "test_records": len(self.test)}


Splits = TextSplits | InstructionSplits


def digest(*parts: object) -> str:
    """A short stable hash of JSON-able parts (cache keys)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_text_cache: str | None = None


def shakespeare_text() -> str:
    """The shipped text, checked against its recorded checksum."""
    global _text_cache
    if _text_cache is None:
        try:
            raw = gzip.decompress(SHIPPED.read_bytes())
        except (OSError, EOFError) as exc:
            raise DataError(f"the shipped text {SHIPPED} cannot be read ({exc}); reinstall the package") from None
        if hashlib.sha256(raw).hexdigest() != SHIPPED_SHA256:
            raise DataError(f"the shipped text {SHIPPED} is damaged (checksum differs); reinstall the package")
        _text_cache = raw.decode("utf-8")
    return _text_cache


def _norm(name: str) -> str:
    return " ".join(name.split())


def speeches(text: str) -> list[Speech]:
    """Blocks separated by blank lines; a block opens with its speaker's line ("ROMEO:"). A block
    without one continues the previous speech."""
    out: list[Speech] = []
    for block in text.split("\n\n"):
        block = block.strip("\n")
        if not block:
            continue
        first = block.split("\n", 1)[0]
        if _SPEAKER.match(first) or not out:
            out.append(Speech(_norm(first[:-1]) if first.endswith(":") else "", block))
        else:
            prev = out[-1]
            out[-1] = Speech(prev.speaker, prev.text + "\n\n" + block)
    return out


def _cut(text: str, fractions: tuple[float, ...]) -> list[str]:
    """Split by position at the first paragraph (else line) break after each fraction."""
    bounds, start = [], 0
    for f in fractions[:-1]:
        pos = max(start, round(f * len(text)))
        para = text.find("\n\n", pos, pos + 4000)
        line = text.find("\n", pos)
        cut = para + 2 if para >= 0 else (line + 1 if line >= 0 else pos)
        bounds.append(cut)
        start = cut
    parts, prev = [], 0
    for b in [*bounds, len(text)]:
        parts.append(text[prev:b])
        prev = b
    return parts


def _cumulative(fractions: tuple[float, ...]) -> tuple[float, ...]:
    acc, out = 0.0, []
    for f in fractions:
        acc += f
        out.append(acc)
    return tuple(out)


def split_text(name: str, text: str, fractions: tuple[float, float, float], key: str) -> TextSplits:
    train, val, test = _cut(text, _cumulative(fractions))
    return TextSplits(name, train, val, test, digest(key, fractions, len(text)))


def _held_out(speakers: list[str] | tuple[str, ...]) -> set[str]:
    return {_norm(s).casefold() for s in speakers if s.strip()}


@functools.lru_cache(maxsize=1)
def _speakers() -> frozenset[str]:
    return frozenset(s.speaker.casefold() for s in speeches(shakespeare_text()))


def check_speakers(speakers: list[str] | tuple[str, ...]) -> None:
    known = _speakers()
    missing = [s for s in speakers if _norm(s).casefold() not in known]
    if missing:
        raise DataError(f"domain_speakers: {', '.join(missing)} never speak{'s' if len(missing) == 1 else ''} "
                        f"in Tiny Shakespeare "
                        f"(speakers are written as in the text, e.g. ROMEO, Nurse, KING RICHARD II)")
    if not _held_out(speakers):
        raise DataError("domain_speakers: give at least one speaker whose speeches form the new domain")


def _partition(speakers: list[str] | tuple[str, ...]) -> tuple[str, str]:
    return _partition_cached(tuple(sorted(_held_out(speakers))))


@functools.lru_cache(maxsize=4)
def _partition_cached(held_sorted: tuple[str, ...]) -> tuple[str, str]:
    """(speeches of everyone else, speeches of the held-out speakers), each joined in text order."""
    held = set(held_sorted)
    inside: list[str] = []
    outside: list[str] = []
    for s in speeches(shakespeare_text()):
        (inside if s.speaker.casefold() in held else outside).append(s.text)
    return "\n\n".join(outside) + "\n\n", "\n\n".join(inside) + "\n\n"


def pretraining_corpus(held_out: list[str] | tuple[str, ...] = ROMEO_AND_JULIET) -> TextSplits:
    """Tiny Shakespeare without the held-out speakers' speeches, 90/5/5 by position."""
    check_speakers(held_out)
    outside, _ = _partition(held_out)
    key = ("tinyshakespeare", SHIPPED_SHA256, "pretrain", sorted(_held_out(held_out)))
    return split_text("tinyshakespeare (pre-training: speakers not held out)", outside, PRETRAIN_FRACTIONS, digest(*key))


def new_domain(held_out: list[str] | tuple[str, ...] = ROMEO_AND_JULIET) -> TextSplits:
    """The held-out speakers' speeches, in text order, 80/10/10 by position."""
    check_speakers(held_out)
    _, inside = _partition(held_out)
    key = ("tinyshakespeare", SHIPPED_SHA256, "domain", sorted(_held_out(held_out)))
    return split_text(f"tinyshakespeare (new domain: {len(_held_out(held_out))} held-out speakers)",
                      inside, DOMAIN_FRACTIONS, digest(*key))


# -- a user's own data -----------------------------------------------------------------------

def alpaca_prompt(instruction: str, input_text: str = "") -> str:
    """The Alpaca template (Taori et al. 2023): the response follows "### Response:"."""
    if input_text.strip():
        return (f"### Instruction:\n{instruction}\n\n### Input:\n{input_text}\n\n### Response:\n")
    return f"### Instruction:\n{instruction}\n\n### Response:\n"


def resolve_path(raw: str) -> Path:
    """``~`` expanded; a relative path is taken from the current folder."""
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        path = Path.cwd() / path
    return path


def _read(path: Path, what: str) -> str:
    if not path.exists():
        raise DataError(f"{what} {path} does not exist: give the path of a .txt or .jsonl file")
    if not path.is_file():
        raise DataError(f"{what} {path} is not a file: give the path of a .txt or .jsonl file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"{what} {path} line {line}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _field(rec: dict[str, object], name: str, line: int, path: Path, required: bool) -> str:
    if name not in rec or rec[name] is None:
        if required:
            raise DataError(f"{path} line {line}: missing \"{name}\" (each line is a JSON object with "
                            f"\"instruction\", optional \"input\", and \"output\")")
        return ""
    value = rec[name]
    if not isinstance(value, str):
        raise DataError(f"{path} line {line}: \"{name}\" must be a string, got {type(value).__name__}")
    return value


def parse_instructions(path: Path, text: str) -> list[Example]:
    """Every non-blank line must be one Alpaca record; the first bad line is the error."""
    out: list[Example] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {n}: not valid JSON ({exc.msg} at column {exc.colno}); "
                            f"each line must be one JSON object") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path} line {n}: a JSON object expected, got {type(rec).__name__}")
        instruction = _field(rec, "instruction", n, path, True)
        output = _field(rec, "output", n, path, True)
        input_text = _field(rec, "input", n, path, False)
        domain = rec.get("domain")
        if domain is not None and not isinstance(domain, str):
            raise DataError(f"{path} line {n}: \"domain\" must be a string, got {type(domain).__name__}")
        if not output.strip():
            raise DataError(f"{path} line {n}: \"output\" is empty; the loss is computed on it")
        out.append(Example(alpaca_prompt(instruction, input_text), output, n, domain))
    return out


def _split_records(records: list[Example], fractions: tuple[float, float, float]) -> list[tuple[Example, ...]]:
    n = len(records)
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    n_train = n - n_val - n_test
    return [tuple(records[:n_train]), tuple(records[n_train:n_train + n_val]), tuple(records[n_train + n_val:])]


def load_user_data(raw_path: str) -> Splits:
    """A user's plain text or instruction JSONL, checked completely and split by position."""
    path = resolve_path(raw_path)
    text = _read(path, "data file")
    if path.suffix.lower() in JSONL_SUFFIXES:
        records = parse_instructions(path, text)
        if len(records) < MIN_RECORDS:
            raise DataError(f"{path}: {len(records)} record(s); at least {MIN_RECORDS} are needed "
                            f"(train / validation / test are cut by position)")
        train, val, test = _split_records(records, DOMAIN_FRACTIONS)
        return InstructionSplits(f"{path.name} ({len(records)} instruction records)", train, val, test,
                                 digest("jsonl", hashlib.sha256(text.encode()).hexdigest(), DOMAIN_FRACTIONS))
    if len(text.strip()) < MIN_TEXT_CHARS:
        raise DataError(f"{path}: {len(text.strip())} characters of text; at least {MIN_TEXT_CHARS} are needed "
                        f"(train / validation / test are cut by position)")
    return split_text(f"{path.name} ({len(text)} characters)", text, DOMAIN_FRACTIONS,
                      digest("text", hashlib.sha256(text.encode()).hexdigest()))


def check_data_file(path: Path) -> None:
    """Everything load_user_data checks, without keeping the text (DataError on the first problem)."""
    load_user_data(str(path))


def fine_tuning_data(data: str, held_out: list[str] | tuple[str, ...]) -> Splits:
    """The data every fine-tuning variant trains and is scored on."""
    return load_user_data(data) if data.strip() else new_domain(held_out)
