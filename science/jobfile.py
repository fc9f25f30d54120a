"""A job file's text as a JSON value, or one line saying why it cannot be read.

Job files are JSON with comments (`//` to the end of the line and `/* ... */`, as in the published
pipeline document's example); a comment is blanked out, keeping every newline, so a parse error
names the line and column of the file as written. The file is UTF-8 (a byte-order mark is
allowed, and UTF-16/UTF-32 files that start with theirs are read too). What a job never needs is
refused before anything else looks at it: a file over 1 MiB, nesting deeper than `MAX_DEPTH`,
numbers longer than `MAX_DIGITS` digits or beyond a float's range, NaN and Infinity (not JSON),
and a key given twice in one object (JSON keeps the last silently; a job file's author meant one).
"""

from __future__ import annotations

import codecs
import json
import math
from pathlib import Path
from typing import NoReturn

from contract import units
from contract.jsonvalue import JsonObject, JsonValue

MAX_JOB_BYTES = 1024 * 1024
MAX_DEPTH = 32       # a job's deepest part (metadata, a deliverable's expected value) is a few levels
MAX_DIGITS = 40      # the largest number a job holds is a sha-sized budget, not a 4,000-digit integer
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class UnreadableJobError(ValueError):
    """The file is not a readable job: one line, what is wrong and how to fix it."""


def decode(data: bytes) -> str:
    """The text of a job file: UTF-8, or UTF-8/16/32 announced by a byte-order mark."""
    encoding = next((enc for bom, enc in BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableJobError(f"not {encoding.upper().removesuffix('-SIG')} text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}): save the job file as UTF-8") from None


def strip_comments(text: str) -> str:
    """`text` with `//` and `/* */` comments outside strings replaced by spaces (newlines kept)."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                line = text.count("\n", 0, i) + 1
                raise UnreadableJobError(f"a /* comment opened at line {line} is never closed with */")
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end + 2]))
            i = end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _number(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise UnreadableJobError(f"a number of {len(text.lstrip('-'))} digits ({text[:12]}...): numbers in a job have at "
                         f"most {MAX_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnreadableJobError(f"the number {text[:40]} is beyond a float's range: give a finite number")
    return value


def _constant(name: str) -> NoReturn:
    raise UnreadableJobError(f"{name} is not a JSON number: give a finite number")


def _object(pairs: list[tuple[str, JsonValue]]) -> JsonObject:
    out: JsonObject = {}
    for key, value in pairs:
        if key in out:
            raise UnreadableJobError(f"the key {json.dumps(key)[:40]} is given twice in one object: keep one")
        out[key] = value
    return out


def _too_deep(value: JsonValue) -> str | None:
    """The path of the first part nested deeper than MAX_DEPTH, or None (no recursion: any depth)."""
    stack: list[tuple[JsonValue, str, int]] = [(value, "", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return where or "the top"
        if isinstance(node, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(node))
    return None


def _nesting(text: str) -> int:
    """How deep brackets nest in `text` (strings skipped), counted before parsing: the parser
    itself recurses and would fail on deep input with an error of its own."""
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def loads(text: str) -> JsonValue:
    """JSON with comments as a value; UnreadableJobError with the place of the first problem."""
    text = strip_comments(text)
    if _nesting(text) > MAX_DEPTH + 1:
        raise UnreadableJobError(f"nested more than {MAX_DEPTH} levels deep: a job is a small object (flatten its "
                         "metadata)")
    try:
        value: JsonValue = json.loads(text, parse_int=_number, parse_float=_float, parse_constant=_constant,
                           object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise UnreadableJobError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # pragma: no cover - the nesting check above comes first
        raise UnreadableJobError(f"nested more than {MAX_DEPTH} levels deep: a job is a small object") from None
    if (where := _too_deep(value)) is not None:
        raise UnreadableJobError(f"{where}: nested more than {MAX_DEPTH} levels deep: a job is a small object")
    return value


def read(path: Path) -> JsonValue:
    """The JSON value of the job file at `path`; UnreadableJobError (one line) when it cannot be had."""
    try:
        if path.is_dir():
            raise UnreadableJobError("cannot read it: it is a folder; give the path of a JSON job file")
        if path.stat().st_size > MAX_JOB_BYTES:
            raise UnreadableJobError(f"larger than {units.size(MAX_JOB_BYTES)}: a job is a small JSON object")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableJobError("no such file; give the path of a JSON job file") from None
    except OSError as exc:
        raise UnreadableJobError(f"cannot read it: {exc.strerror or exc}") from None
    return loads(decode(data))
