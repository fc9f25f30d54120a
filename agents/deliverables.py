"""An experiment's deliverables: what each kind promises, how a submission is checked (`problems`),
and how each kind is checked against the runs (`check_all`).

Kinds (`KINDS`):

- `exists`: a file (`path`, relative to each run's folder, a glob allowed) or an artifact the
  run reported (`artifact_kind`) exists in every succeeded run.
- `exists_and_loadable`: as `exists`, and each file loads, judged from its format without
  importing torch: a torch checkpoint is a sound zip archive whose `data.pkl` is a well-formed
  pickle (or a legacy pickle), safetensors has a consistent header, a tokenizer (tokenizer.json,
  vocab.json, vocab.txt, merges.txt, tokenizer_config.json, or a folder of them) parses, JSON /
  JSONL / CSV / NumPy files parse; any other file is non-empty and readable.
- `matches_expected`: a result value (`key`) equals `expected`, within `tolerance` (absolute) or
  `rel_tolerance` for numbers, in every succeeded run (or its mean over seeds, `aggregate:
  "mean"`); or a file (`path` / `artifact_kind`) has the `sha256` given, or holds the `expected`
  JSON value (text, for a non-JSON file).
- `contains_sections`: a Markdown or text file (`path` / `artifact_kind`, or `target: "report"`,
  the lab's own report of the experiment, checked when the experiment is recorded) has every
  heading of `sections` (case-insensitive; a JSON file: top-level keys).
- `contains_keys`: every succeeded run's result holds `keys` (or the JSON file at `path` does).
- `threshold`: the mean over seeds of `key` compares (`op`: >=, >, <=, <, ==) with `value`.
- `statistical_test`: a variant differs from its reference (`expect`: different, greater, less)
  at `alpha` (paired t over seeds when two or more seeds are shared, as the validator pairs them;
  Welch's unpaired test otherwise), or is not worse within `margin` (95 % CI lower bound).

Each check answers ok True/False, or None when it does not apply to this plan (e.g. a threshold
on a variant the parameters left out), with a detail that quotes the numbers. Any other kind is
refused when the experiment is submitted.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import math
import operator
import pickle
import pickletools
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from agents import stats
from agents.analysis import values_by_seed

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}
ROLES = ("quality", "energy", "time", "size")
KINDS = ("exists", "exists_and_loadable", "matches_expected", "contains_sections", "contains_keys", "threshold",
         "statistical_test")
EXPECT = ("different", "greater", "less", "not_worse")
REPORT_TARGET = "report"
MAX_READ = 256 * 1024 * 1024  # a file larger than this is judged from its header only
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "merges.txt", "tokenizer_config.json",
                   "special_tokens_map.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")


# -- submission ------------------------------------------------------------------------------

def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _path_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "path: expected a file name relative to the run's folder"
    p = PurePosixPath(value.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts:
        return f"path: {value!r} must stay inside the run's folder (relative, no '..')"
    return None


def _target_problems(d: dict[str, Any], *, report_ok: bool = False) -> list[str]:
    if report_ok and d.get("target") == REPORT_TARGET:
        return []
    if "target" in d:
        return [f"target: only {REPORT_TARGET!r} (the lab's report of the experiment) is known, got "
                f"{json.dumps(d['target'])[:40]}"]
    if "path" in d:
        return [p] if (p := _path_problem(d["path"])) else []
    if isinstance(d.get("artifact_kind"), str) and d["artifact_kind"]:
        return []
    where = "`path`, `artifact_kind` or `target: \"report\"`" if report_ok else "`path` or `artifact_kind`"
    return [f"needs {where} to say which file"]


def problems(d: Any) -> list[str]:
    """What is wrong with a deliverable as submitted (empty: it can be checked)."""
    if not isinstance(d, dict):
        return [f"expected an object with a 'kind' (one of {', '.join(KINDS)})"]
    kind = d.get("kind")
    if kind not in KINDS:
        return [f"unknown kind {json.dumps(kind)[:40]}: the lab checks {', '.join(KINDS)}"]
    out: list[str] = []
    if "variant" in d and d["variant"] is not None and not (isinstance(d["variant"], str) and d["variant"]):
        out.append("variant: expected the name of a variant of the plan")
    if kind in ("exists", "exists_and_loadable"):
        out += _target_problems(d)
    elif kind == "contains_sections":
        if not _strings(d.get("sections")):
            out.append("sections: expected a non-empty list of section titles")
        out += _target_problems(d, report_ok=True)
    elif kind == "contains_keys":
        if not _strings(d.get("keys")):
            out.append("keys: expected a non-empty list of result keys")
        if "path" in d and (p := _path_problem(d["path"])):
            out.append(p)
    elif kind == "threshold":
        if not isinstance(d.get("key"), str) or not d["key"]:
            out.append("key: expected the result key to compare")
        if not isinstance(d.get("op", ">="), str) or d.get("op", ">=") not in OPS:
            out.append(f"op: expected one of {', '.join(OPS)}, got {json.dumps(d.get('op'))[:20]}")
        if not _finite(d.get("value")):
            out.append(f"value: expected a finite number, got {json.dumps(d.get('value'))[:40]}")
    elif kind == "statistical_test":
        if "key" in d and not (isinstance(d["key"], str) and d["key"]):
            out.append("key: expected a result key")
        if "role" in d and d["role"] not in ROLES:
            out.append(f"role: expected one of {', '.join(ROLES)}")
        if d.get("expect", "different") not in EXPECT:
            out.append(f"expect: expected one of {', '.join(EXPECT)}, got {json.dumps(d.get('expect'))[:30]}")
        alpha = d.get("alpha", 0.05)
        if not _finite(alpha) or not 0 < alpha < 1:
            out.append(f"alpha: expected a number between 0 and 1, got {json.dumps(alpha)[:30]}")
        margin = d.get("margin", 0.01)
        if not _finite(margin) or margin < 0:
            out.append(f"margin: expected a number >= 0, got {json.dumps(margin)[:30]}")
        if "against" in d and not (isinstance(d["against"], str) and d["against"]):
            out.append("against: expected the name of a variant (or 'baseline')")
    elif kind == "matches_expected":
        out += _matches_problems(d)
    return out


def _matches_problems(d: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name in ("tolerance", "rel_tolerance"):
        if name in d and (not _finite(d[name]) or d[name] < 0):
            out.append(f"{name}: expected a number >= 0, got {json.dumps(d[name])[:30]}")
    if "key" in d:
        if not isinstance(d["key"], str) or not d["key"]:
            out.append("key: expected the result key to compare")
        if "expected" not in d:
            out.append("expected: the value the result should have is missing")
        elif isinstance(d["expected"], float) and not math.isfinite(d["expected"]):
            out.append("expected: expected a finite number")
        if d.get("aggregate", "each") not in ("each", "mean"):
            out.append("aggregate: expected 'each' (every run) or 'mean' (the mean over seeds)")
        return out
    out += _target_problems(d)
    if "sha256" in d:
        digest = d["sha256"]
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest.lower())):
            out.append("sha256: expected 64 hexadecimal digits")
    elif "expected" not in d:
        out.append("needs `key` and `expected` (a result value), or a file and its `sha256` or `expected` content")
    return out


# -- checking ----------------------------------------------------------------------------------

class Context:
    """The runs of one experiment as the checks need them (and the lab's report, once written)."""

    def __init__(self, runs: list[dict[str, Any]], baseline: str, keys: dict[str, str],
                 artifacts: dict[int, list[dict[str, Any]]] | None = None, report: Path | None = None) -> None:
        self.runs = runs
        self.baseline = baseline
        self.keys = keys
        self.artifacts = artifacts or {}
        self.report = report
        self.variants = list(dict.fromkeys(r["variant"] for r in runs))

    def variant_name(self, name: str | None) -> str | None:
        return self.baseline if name == "baseline" and "baseline" not in self.variants else name

    def succeeded(self, variant: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["status"] == "succeeded" and isinstance(r.get("result"), dict)
                and (variant is None or r["variant"] == variant)]

    def values(self, variant: str, key: str) -> list[float]:
        return stats.clean([r["result"].get(key) for r in self.succeeded(variant)])

    def by_seed(self, variant: str, key: str) -> dict[Any, float]:
        return values_by_seed(self.succeeded(variant), key)

    def files(self, d: dict[str, Any], run: dict[str, Any]) -> tuple[list[Path], str | None]:
        """The files a deliverable names in one run, or why there are none."""
        root = Path(run.get("run_dir") or ".")
        if isinstance(d.get("path"), str):
            pattern = d["path"].replace("\\", "/")
            if any(c in pattern for c in "*?["):
                found = sorted(p for p in root.rglob("*") if fnmatch.fnmatch(p.relative_to(root).as_posix(), pattern))
                return found, None if found else f"nothing matches {pattern}"
            path = root / pattern
            return ([path], None) if path.exists() else ([], f"{pattern} missing")
        kind = d.get("artifact_kind")
        paths = [root / a["path"] for a in self.artifacts.get(run["id"], [])
                 if isinstance(a.get("path"), str) and a.get("kind") == kind]
        if not paths:
            return [], f"no {kind} artifact"
        missing = [p.name for p in paths if not p.exists()]
        return [p for p in paths if p.exists()], f"{', '.join(missing)} missing" if missing else None


def check_all(deliverables: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    """Each deliverable with `ok` (True, False, None), `status` (passed, failed, not_applicable,
    not_checked) and a `detail` quoting the numbers."""
    out = []
    for d in deliverables:
        kind = d.get("kind")
        checker = CHECKS.get(kind) if isinstance(kind, str) else None
        status = None
        if checker is None:
            ok, detail = None, f"unknown deliverable kind {kind!r}: not checked (the lab checks {', '.join(KINDS)})"
            status = "not_checked"
        elif problems(d):
            ok, detail, status = None, f"malformed: {'; '.join(problems(d))}: not checked", "not_checked"
        else:
            variant = ctx.variant_name(d.get("variant"))
            if variant is not None and variant not in ctx.variants:
                ok, detail = None, f"variant {variant} is not in this plan: not applicable"
            else:
                ok, detail = checker(d, ctx, variant)
                if ok is None and d.get("target") == REPORT_TARGET:
                    status = "not_checked"
        status = status or {True: "passed", False: "failed", None: "not_applicable"}[ok]
        out.append({**d, "ok": ok, "status": status, "detail": detail})
    return out


def _per_run_files(d: dict[str, Any], ctx: Context, variant: str | None,
                   judge: Callable[[Path], str | None] | None, verb: str) -> tuple[bool | None, str]:
    runs = ctx.succeeded(variant)
    if not runs:
        return False, "no succeeded run to check"
    problems_seen, checked = [], 0
    for run in runs:
        paths, why = ctx.files(d, run)
        if why:
            problems_seen.append(f"run {run['id']}: {why}")
        for path in paths:
            checked += 1
            if judge is not None and (bad := judge(path)) is not None:
                problems_seen.append(f"run {run['id']}: {path.name} {bad}")
    if problems_seen:
        return False, "; ".join(problems_seen[:5]) + (f" (and {len(problems_seen) - 5} more)" if len(problems_seen) > 5 else "")
    return True, f"{checked} file(s) in {len(runs)} run(s) {verb}"


def _exists(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    return _per_run_files(d, ctx, variant, None, "exist")


def _exists_and_loadable(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    return _per_run_files(d, ctx, variant, lambda p: None if (why := loadable(p)) is None else f"not loadable ({why})",
                          "exist and load")


def _contains_keys(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    keys = [k for k in d.get("keys", []) if isinstance(k, str)]
    if isinstance(d.get("path"), str):
        def judge(path: Path) -> str | None:
            data = _json_file(path)
            if not isinstance(data, dict):
                return "is not a JSON object"
            lacking = [k for k in keys if k not in data]
            return f"lacks {', '.join(lacking)}" if lacking else None
        return _per_run_files(d, ctx, variant, judge, f"contain {', '.join(keys)}")
    runs = ctx.succeeded(variant)
    if not runs:
        return False, "no succeeded run to check"
    missing = {r["id"]: [k for k in keys if k not in r["result"]] for r in runs}
    missing = {run_id: ks for run_id, ks in missing.items() if ks}
    if not missing:
        return True, f"all {len(runs)} succeeded result(s) contain {', '.join(keys)}"
    worst = sorted({k for ks in missing.values() for k in ks})
    return False, (f"{len(missing)} of {len(runs)} result(s) lack {', '.join(worst)} "
                   f"(runs {', '.join(map(str, sorted(missing)))})")


def _threshold(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    key, op, value = d.get("key"), d.get("op", ">="), d.get("value")
    if not isinstance(key, str) or not isinstance(op, str) or op not in OPS or not _finite(value):
        return None, f"malformed threshold {json.dumps(d)[:120]}: not checked"
    names = [variant] if variant else ctx.variants
    failures, parts = [], []
    for name in names:
        summary = stats.summarize(ctx.values(name, key))
        if summary.mean is None:
            failures.append(name)
            parts.append(f"{name} has no {key}")
            continue
        passed = OPS[op](summary.mean, value)
        parts.append(f"{name} {key} mean {summary.mean:.4g} {op} {value:g}" + ("" if passed else " fails"))
        if not passed:
            failures.append(name)
    return not failures, "; ".join(parts)


def _close(actual: Any, expected: Any, d: dict[str, Any]) -> bool:
    if _finite(actual) and _finite(expected):
        tol = max(float(d.get("tolerance", 0.0)), abs(float(expected)) * float(d.get("rel_tolerance", 0.0)))
        return abs(float(actual) - float(expected)) <= tol
    return bool(actual == expected)


def _matches_expected(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    expected = d.get("expected")
    if isinstance(d.get("key"), str):
        key = d["key"]
        names = [variant] if variant else ctx.variants
        parts, failures = [], 0
        for name in names:
            runs = ctx.succeeded(name)
            if not runs:
                failures += 1
                parts.append(f"{name} has no succeeded run")
                continue
            if d.get("aggregate") == "mean":
                mean = stats.summarize(ctx.values(name, key)).mean
                ok = mean is not None and _close(mean, expected, d)
                parts.append(f"{name} mean {key} {'n/a' if mean is None else f'{mean:.6g}'} vs {expected!r}")
                failures += not ok
                continue
            bad = [r["id"] for r in runs if not _close(r["result"].get(key), expected, d)]
            failures += bool(bad)
            parts.append(f"{name}: {len(runs) - len(bad)} of {len(runs)} run(s) have {key} = {expected!r}"
                         + (f" (runs {', '.join(map(str, bad))} differ)" if bad else ""))
        tol = ", ".join(f"{n} {d[n]:g}" for n in ("tolerance", "rel_tolerance") if _finite(d.get(n)))
        return not failures, "; ".join(parts) + (f" ({tol})" if tol else "")

    def judge(path: Path) -> str | None:
        if "sha256" in d:
            digest = _sha256(path)
            return None if digest == str(d["sha256"]).lower() else f"has sha256 {digest[:12]}…, not {str(d['sha256'])[:12]}…"
        try:
            data: Any = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            try:
                data = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                return f"cannot be read ({exc})"[:120]
        return None if data == expected else "differs from the expected content"
    return _per_run_files(d, ctx, variant, judge, "match the expected content")


def _contains_sections(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    sections = [s for s in d.get("sections", []) if isinstance(s, str)]
    if d.get("target") == REPORT_TARGET:
        if ctx.report is None:
            return None, "checked against the lab's report when the experiment is recorded"
        if not ctx.report.exists():
            return False, "the lab's report was not written"
        missing = missing_sections(ctx.report, sections)
        return (not missing, f"the report has {', '.join(sections)}" if not missing
                else f"the report lacks {', '.join(missing)}")

    def judge(path: Path) -> str | None:
        missing = missing_sections(path, sections)
        return f"lacks {', '.join(missing)}" if missing else None
    return _per_run_files(d, ctx, variant, judge, f"contain {', '.join(sections)}")


def _statistical_test(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    key = d.get("key") or ctx.keys.get(d.get("role", "quality"), "")
    against = ctx.variant_name(d.get("against", "baseline")) or ctx.baseline
    alpha = float(d.get("alpha", 0.05))
    expect = d.get("expect", "different")
    names = [variant] if variant else [v for v in ctx.variants if v != against]
    if not names:
        return None, "no variant to test against the baseline"
    verdicts, parts = [], []
    for name in names:
        a, b = ctx.by_seed(name, key), ctx.by_seed(against, key)
        cmp = stats.by_seed(a, b)
        if expect == "not_worse":
            margin = float(d.get("margin", 0.01))
            lo = None if cmp.delta_ci95 is None else cmp.delta_ci95[0]
            ok = lo is not None and lo >= -margin
            parts.append(f"{name} {key} change 95 % CI lower bound "
                         f"{'n/a' if lo is None else f'{lo:+.4g}'} vs -{margin:g}")
        else:
            p = cmp.p_value
            if p is not None and expect in ("greater", "less") and cmp.delta is not None:
                right_way = cmp.delta > 0 if expect == "greater" else cmp.delta < 0
                p = p / 2 if right_way else 1 - p / 2
            ok = p is not None and p < alpha
            parts.append(f"{name} vs {against} on {key}: {cmp.method} p = {'n/a' if p is None else f'{p:.3g}'} "
                         f"({expect}, alpha {alpha:g}, n = {len(a)} and {len(b)})")
        verdicts.append(ok)
    return all(verdicts), "; ".join(parts)


CHECKS: dict[str, Callable[[dict[str, Any], Context, str | None], tuple[bool | None, str]]] = {
    "exists": _exists,
    "exists_and_loadable": _exists_and_loadable,
    "matches_expected": _matches_expected,
    "contains_sections": _contains_sections,
    "contains_keys": _contains_keys,
    "threshold": _threshold,
    "statistical_test": _statistical_test,
}
assert tuple(CHECKS) == KINDS


# -- files -------------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _norm(title: str) -> str:
    return " ".join(title.strip().strip("#").strip().rstrip(":").split()).casefold()


def missing_sections(path: Path, sections: list[str]) -> list[str]:
    """The sections a Markdown/text file lacks (headings, or lines that are a title alone);
    for a JSON file, its top-level keys."""
    if path.suffix.lower() == ".json":
        data = _json_file(path)
        have = {_norm(str(k)) for k in data} if isinstance(data, dict) else set()
    else:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return list(sections)
        have = set()
        for i, line in enumerate(lines):
            text = line.strip()
            underline = i + 1 < len(lines) and lines[i + 1].strip() and set(lines[i + 1].strip()) <= set("=-")
            if text.startswith("#") or underline or (text.endswith(":") and len(text) < 120):
                have.add(_norm(text))
            elif text.startswith("\\section{") or text.startswith("\\subsection{"):
                have.add(_norm(text.split("{", 1)[1].rstrip("}")))
    return [s for s in sections if _norm(s) not in have]


def _pickle_problem(data: bytes | io.BufferedIOBase) -> str | None:
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
            return _tokenizer_dir(path)
        name, suffix = path.name.lower(), path.suffix.lower()
        if path.stat().st_size == 0:
            return "empty file"
        if name == "tokenizer.json":
            data = json.loads(path.read_text())
            return None if isinstance(data, dict) and isinstance(data.get("model"), dict) else \
                "not a tokenizers file (no 'model' object)"
        if suffix == ".json":
            json.loads(path.read_text())
        elif suffix == ".jsonl":
            for line in path.read_text().splitlines():
                if line.strip():
                    json.loads(line)
        elif suffix == ".csv":
            with open(path, newline="") as fh:
                list(csv.reader(fh))
        elif name in ("vocab.txt", "merges.txt") or suffix in (".txt", ".md"):
            path.read_text(encoding="utf-8")
        elif suffix == ".safetensors":
            return _safetensors(path)
        elif suffix in (".pt", ".pth", ".ckpt", ".bin", ".zip", ".npz"):
            if zipfile.is_zipfile(path):
                return _torch_zip(path) if suffix != ".npz" else _npz(path)
            if suffix in (".zip", ".npz"):
                return "not a zip archive"
            with open(path, "rb") as fh:
                if fh.read(1) != b"\x80":
                    return "neither a zip archive (torch.save) nor a pickle"
            return _torch_legacy(path)
        elif suffix in (".pkl", ".pickle"):
            with open(path, "rb") as fh:
                return _pickle_problem(fh.read(MAX_READ))
        elif suffix == ".npy":
            with open(path, "rb") as fh:
                return None if fh.read(6) == b"\x93NUMPY" else "not a NumPy .npy file"
        else:
            with open(path, "rb") as fh:
                fh.read(1)
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, csv.Error, struct.error) as exc:
        return str(exc)[:120] or exc.__class__.__name__
    return None


def _npz(path: Path) -> str | None:
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad:
            return f"corrupt member {bad}"
        if not all(n.endswith(".npy") for n in archive.namelist()):
            return "a zip archive with members that are not .npy arrays"
    return None
