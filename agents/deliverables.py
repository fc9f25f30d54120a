"""Checking an experiment's deliverables against its runs: `contains_keys`, `threshold`,
`exists_and_loadable`, `statistical_test`.

Each check answers ok True/False, or None when it does not apply to this plan (e.g. a threshold
on a variant the parameters left out), with a detail that quotes the numbers.
"""

from __future__ import annotations

import csv
import json
import operator
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents import stats

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}
ROLES = ("quality", "energy", "time", "size")


class Context:
    """The runs of one experiment as the checks need them."""

    def __init__(self, runs: list[dict[str, Any]], baseline: str, keys: dict[str, str],
                 artifacts: dict[int, list[dict[str, Any]]] | None = None) -> None:
        self.runs = runs
        self.baseline = baseline
        self.keys = keys
        self.artifacts = artifacts or {}
        self.variants = list(dict.fromkeys(r["variant"] for r in runs))

    def variant_name(self, name: str | None) -> str | None:
        return self.baseline if name == "baseline" and "baseline" not in self.variants else name

    def succeeded(self, variant: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["status"] == "succeeded" and isinstance(r.get("result"), dict)
                and (variant is None or r["variant"] == variant)]

    def values(self, variant: str, key: str) -> list[float]:
        return stats.clean([r["result"].get(key) for r in self.succeeded(variant)])


def check_all(deliverables: list[dict[str, Any]], ctx: Context) -> list[dict[str, Any]]:
    out = []
    for d in deliverables:
        kind = d.get("kind")
        checker = CHECKS.get(kind) if isinstance(kind, str) else None
        if checker is None:
            ok, detail = None, f"unknown deliverable kind {kind!r}: not checked"
        else:
            variant = ctx.variant_name(d.get("variant"))
            if variant is not None and variant not in ctx.variants:
                ok, detail = None, f"variant {variant} is not in this plan: not applicable"
            else:
                ok, detail = checker(d, ctx, variant)
        out.append({**d, "ok": ok, "detail": detail})
    return out


def _contains_keys(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    keys = [k for k in d.get("keys", []) if isinstance(k, str)]
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
    if not isinstance(key, str) or op not in OPS or not isinstance(value, (int, float)):
        return None, f"malformed threshold {json.dumps(d)}: not checked"
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


def _loadable(path: Path) -> str | None:
    """Why the file cannot be loaded, or None. Torch checkpoints are zip archives, checked as such."""
    try:
        suffix = path.suffix.lower()
        if suffix == ".json":
            json.loads(path.read_text())
        elif suffix == ".jsonl":
            for line in path.read_text().splitlines():
                if line.strip():
                    json.loads(line)
        elif suffix == ".csv":
            with open(path, newline="") as fh:
                list(csv.reader(fh))
        elif suffix in (".pt", ".pth", ".zip"):
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    bad = archive.testzip()
                if bad:
                    return f"corrupt member {bad}"
            elif not (suffix != ".zip" and path.read_bytes()[:1] == b"\x80"):  # legacy pickled checkpoint
                return "neither a zip archive (torch.save) nor a pickle"
        elif path.stat().st_size == 0:
            return "empty file"
        else:
            path.read_bytes()
    except (OSError, ValueError, zipfile.BadZipFile, csv.Error) as exc:
        return str(exc)[:120]
    return None


def _exists_and_loadable(d: dict[str, Any], ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    runs = ctx.succeeded(variant)
    if not runs:
        return False, "no succeeded run to check"
    problems, checked = [], 0
    for run in runs:
        root = Path(run.get("run_dir") or ".")
        if isinstance(d.get("path"), str):
            paths = [root / d["path"]]
        else:
            paths = [root / a["path"] for a in ctx.artifacts.get(run["id"], [])
                     if isinstance(a.get("path"), str) and a.get("kind") == d.get("artifact_kind")]
            if not paths:
                problems.append(f"run {run['id']}: no {d.get('artifact_kind')} artifact")
        for path in paths:
            checked += 1
            if not path.exists():
                problems.append(f"run {run['id']}: {path.name} missing")
            elif (why := _loadable(path)) is not None:
                problems.append(f"run {run['id']}: {path.name} not loadable ({why})")
    if problems:
        return False, "; ".join(problems[:5])
    return True, f"{checked} file(s) in {len(runs)} run(s) exist and load"


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
        a, b = ctx.values(name, key), ctx.values(against, key)
        cmp = stats.compare(a, b)
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
            parts.append(f"{name} vs {against} on {key}: Welch p = {'n/a' if p is None else f'{p:.3g}'} "
                         f"({expect}, alpha {alpha:g}, n = {len(a)} and {len(b)})")
        verdicts.append(ok)
    return all(verdicts), "; ".join(parts)


CHECKS: dict[str, Callable[[dict[str, Any], Context, str | None], tuple[bool | None, str]]] = {
    "contains_keys": _contains_keys,
    "threshold": _threshold,
    "exists_and_loadable": _exists_and_loadable,
    "statistical_test": _statistical_test,
}
