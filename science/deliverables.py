"""An experiment's deliverables checked against its runs (`check_all`); what each kind promises
and how a submission is checked are science/deliverable_spec.py, the deliverable's type
contract/deliverable.py (both re-exported here).

Kinds (`KINDS`):

- `exists`: a file (`path`, relative to each run's folder, a glob allowed) or an artifact the
  run reported (`artifact_kind`) exists in every succeeded run.
- `exists_and_loadable`: as `exists`, and each file (or model / tokenizer folder) loads, judged
  from its format without importing torch (science/loadable.py).
- `matches_expected`: a result value (`key`) equals `expected`, within `tolerance` (absolute) or
  `rel_tolerance` for numbers, in every succeeded run (or its mean over seeds, `aggregate:
  "mean"`); or a file (`path` / `artifact_kind`) has the `sha256` given, or holds the `expected`
  JSON value (text, for a non-JSON file).
- `contains_sections`: a Markdown or text file (`path` / `artifact_kind`, or `target: "report"`,
  the lab's own report of the experiment, checked when the experiment is recorded) has every
  heading of `sections` (case-insensitive; a JSON file: top-level keys).
- `contains_keys`: every succeeded run's result holds `keys` (or the JSON file at `path` does).
- `threshold`: the mean over seeds of `key` (of the result, or of the JSON file at `path` in
  each run) compares (`op`: >=, >, <=, <, ==) with `value`.
- `statistical_test`: a variant differs from its reference (`expect`: different, greater, less)
  at `alpha` (paired t over seeds when two or more seeds are shared, as the validator pairs them;
  Welch's unpaired test otherwise), or is not worse within `margin` (95 % CI lower bound).
- `synced_and_downloadable`: each run's W&B run (`project`) is on the W&B server with the
  `required_metrics` in its history and a model artifact that downloads and loads (through
  `wandb.Api`); a run only logged offline is unmet, "not synced: offline" (science/wandb_runs.py).

The published document's field names (`required_keys`, `metric`, `operator`) are the lab's
(`keys`, `key`, `op`). Each check answers ok True/False, or None when it does not apply to this
plan (e.g. a threshold on a variant the parameters left out), with a detail that quotes the
numbers. Any other kind is refused when the experiment is submitted.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard

from contract import units
from contract.deliverable import ALIASES, WANDB_METRICS, CheckedDeliverable, Deliverable, normalize
from contract.digests import file_sha256
from contract.events import Artifact
from contract.jsonvalue import JsonValue, text_at
from db import Run, RunState
from science import stats
from science.deliverable_spec import (
    AUTO_RUN_ID,
    EXPECT,
    KINDS,
    OPS,
    REPORT_TARGET,
    ROLES,
    problems,
)
from science.experiment_info import values_by_seed
from science.loadable import loadable

__all__ = ["ALIASES", "AUTO_RUN_ID", "CHECKS", "EXPECT", "KINDS", "OPS", "REPORT_TARGET", "ROLES", "WANDB_METRICS",
           "Context", "Deliverable", "check_all", "loadable", "missing_sections", "normalize", "problems"]


def _artifact(data: Mapping[str, JsonValue]) -> Artifact | None:
    """The file a run reported, as its `run.artifact` event's data names it; None without a path."""
    path = text_at(data, "path")
    return None if path is None else Artifact(path, text_at(data, "kind"))


# -- checking ----------------------------------------------------------------------------------

class Context:
    """The runs of one experiment as the checks need them (and the lab's report, once written)."""

    def __init__(self, runs: Sequence[Run], baseline: str, keys: dict[str, str],
                 artifacts: Mapping[int, Sequence[Mapping[str, JsonValue]]] | None = None,
                 report: Path | None = None) -> None:
        self.runs = runs
        self.baseline = baseline
        self.keys = keys
        self.artifacts = {run_id: [a for a in map(_artifact, given) if a is not None]
                          for run_id, given in (artifacts or {}).items()}
        self.report = report
        self.variants = list(dict.fromkeys(r.variant for r in runs))

    def variant_name(self, name: str | None) -> str | None:
        return self.baseline if name == "baseline" and "baseline" not in self.variants else name

    def succeeded(self, variant: str | None = None) -> list[Run]:
        return [r for r in self.runs if r.status == RunState.SUCCEEDED and isinstance(r.result, dict)
                and (variant is None or r.variant == variant)]

    def values(self, variant: str, key: str) -> list[float]:
        return stats.clean([_result(r).get(key) for r in self.succeeded(variant)])

    def by_seed(self, variant: str, key: str) -> dict[Any, float]:
        return values_by_seed(self.succeeded(variant), key)

    def file_values(self, variant: str, path: str, key: str) -> tuple[list[float], list[str]]:
        """`key` of the JSON file at `path` in each succeeded run of `variant`, and what is amiss."""
        values, amiss = [], []
        for run in self.succeeded(variant):
            data = _json_file(Path(run.run_dir or ".") / path)
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, (int, float)) and _finite(value):
                values.append(float(value))
            else:
                amiss.append(f"run {run.id}: {path} " + ("has no number " + key if isinstance(data, dict)
                                                             else "is missing or not a JSON object"))
        return values, amiss

    def files(self, d: Deliverable, run: Run) -> tuple[list[Path], str | None]:
        """The files a deliverable names in one run, or why there are none."""
        root = Path(run.run_dir or ".")
        if d.path is not None:
            pattern = d.path.replace("\\", "/")
            if any(c in pattern for c in "*?["):
                found = sorted(p for p in root.rglob("*") if fnmatch.fnmatch(p.relative_to(root).as_posix(), pattern))
                return found, None if found else f"nothing matches {pattern}"
            path = root / pattern
            return ([path], None) if path.exists() else ([], f"{pattern} missing")
        kind = d.artifact_kind
        paths = [root / a.path for a in self.artifacts.get(run.id, []) if a.what == kind]
        if not paths:
            return [], f"no {kind} artifact"
        missing = [p.name for p in paths if not p.exists()]
        return [p for p in paths if p.exists()], f"{', '.join(missing)} missing" if missing else None


def check_all(deliverables: Sequence[Deliverable], ctx: Context) -> list[CheckedDeliverable]:
    """Each deliverable with `ok` (True, False, None), `status` (passed, failed, not_applicable,
    not_checked) and a `detail` quoting the numbers: the record the rating keeps."""
    out: list[CheckedDeliverable] = []
    for typed in deliverables:
        d = typed.given
        kind = d.get("kind")
        checker = CHECKS.get(kind) if isinstance(kind, str) else None
        status = None
        ok: bool | None
        if checker is None:
            ok, detail = None, f"unknown deliverable kind {kind!r}: not checked (the lab checks {', '.join(KINDS)})"
            status = "not_checked"
        elif problems(d):
            ok, detail, status = None, f"malformed: {'; '.join(problems(d))}: not checked", "not_checked"
        else:
            variant = ctx.variant_name(typed.variant)
            if variant is not None and variant not in ctx.variants:
                ok, detail = None, f"variant {variant} is not in this plan: not applicable"
            else:
                ok, detail = checker(typed, ctx, variant)
                if ok is None and typed.target == REPORT_TARGET:
                    status = "not_checked"
        status = status or {True: "passed", False: "failed", None: "not_applicable"}[ok]
        out.append(CheckedDeliverable(typed, ok, status, detail))
    return out


def _per_run_files(d: Deliverable, ctx: Context, variant: str | None,
                   judge: Callable[[Path], str | None] | None, verb: str) -> tuple[bool | None, str]:
    runs = ctx.succeeded(variant)
    if not runs:
        return False, "no succeeded run to check"
    problems_seen, checked = [], 0
    for run in runs:
        paths, why = ctx.files(d, run)
        if why:
            problems_seen.append(f"run {run.id}: {why}")
        for path in paths:
            checked += 1
            if judge is not None and (bad := judge(path)) is not None:
                problems_seen.append(f"run {run.id}: {path.name} {bad}")
    if problems_seen:
        return False, "; ".join(problems_seen[:5]) + (f" (and {len(problems_seen) - 5} more)" if len(problems_seen) > 5 else "")
    return True, f"{checked} file(s) in {len(runs)} run(s) {verb}"


def _exists(d: Deliverable, ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    return _per_run_files(d, ctx, variant, None, "exist")


def _exists_and_loadable(d: Deliverable, ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    return _per_run_files(d, ctx, variant, lambda p: None if (why := loadable(p)) is None else f"not loadable ({why})",
                          "exist and load")


def _contains_keys(d: Deliverable, ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    keys = d.keys
    if d.path is not None:
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
    missing = {r.id: [k for k in keys if k not in _result(r)] for r in runs}
    missing = {run_id: ks for run_id, ks in missing.items() if ks}
    if not missing:
        return True, f"all {len(runs)} succeeded result(s) contain {', '.join(keys)}"
    worst = sorted({k for ks in missing.values() for k in ks})
    return False, (f"{len(missing)} of {len(runs)} result(s) lack {', '.join(worst)} "
                   f"(runs {', '.join(map(str, sorted(missing)))})")


def _threshold(d: Deliverable, ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    key, op, value = d.key, d.op, d.value
    if key is None or op not in OPS or not _finite(value):
        return None, f"malformed threshold {json.dumps(d.given)[:120]}: not checked"
    names = [variant] if variant else ctx.variants
    path = d.path
    failures, parts = [], []
    for name in names:
        values, amiss = ctx.file_values(name, path, key) if path else (ctx.values(name, key), [])
        summary = stats.summarize(values)
        where = f"{path}'s {key}" if path else key
        if summary.mean is None or amiss:
            failures.append(name)
            parts.append(f"{name}: " + ("; ".join(amiss[:3]) if amiss else f"no {where}"))
            continue
        passed = OPS[op](summary.mean, float(value))
        parts.append(f"{name} {where} mean {summary.mean:.4g} {op} {value:g}" + ("" if passed else " fails")
                     + f" (over {summary.n} run(s))")
        if not passed:
            failures.append(name)
    return not failures, "; ".join(parts)


def _close(actual: object, expected: JsonValue, d: Deliverable) -> bool:
    if _finite(actual) and _finite(expected):
        tol = max(d.tolerance or 0.0, abs(float(expected)) * (d.rel_tolerance or 0.0))
        return abs(float(actual) - float(expected)) <= tol
    return bool(actual == expected)


def _matches_expected(d: Deliverable, ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    expected = d.expected
    if d.key is not None:
        key = d.key
        names = [variant] if variant else ctx.variants
        parts, failures = [], 0
        for name in names:
            runs = ctx.succeeded(name)
            if not runs:
                failures += 1
                parts.append(f"{name} has no succeeded run")
                continue
            if d.aggregate == "mean":
                mean = stats.summarize(ctx.values(name, key)).mean
                ok = mean is not None and _close(mean, expected, d)
                parts.append(f"{name} mean {key} {units.MISSING if mean is None else f'{mean:.6g}'} vs {expected!r}")
                failures += not ok
                continue
            bad = [r.id for r in runs if not _close(_result(r).get(key), expected, d)]
            failures += bool(bad)
            parts.append(f"{name}: {len(runs) - len(bad)} of {len(runs)} run(s) have {key} = {expected!r}"
                         + (f" (runs {', '.join(map(str, bad))} differ)" if bad else ""))
        tol = ", ".join(f"{n} {t:g}" for n, t in (("tolerance", d.tolerance), ("rel_tolerance", d.rel_tolerance))
                        if _finite(t))
        return not failures, "; ".join(parts) + (f" ({tol})" if tol else "")

    def judge(path: Path) -> str | None:
        if d.sha256 is not None:
            digest = file_sha256(path)
            return None if digest == d.sha256.lower() else f"has sha256 {digest[:12]}…, not {d.sha256[:12]}…"
        try:
            data: Any = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            try:
                data = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                return f"cannot be read ({exc})"[:120]
        return None if data == expected else "differs from the expected content"
    return _per_run_files(d, ctx, variant, judge, "match the expected content")


def _contains_sections(d: Deliverable, ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    sections = list(d.sections)
    if d.target == REPORT_TARGET:
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


def _statistical_test(d: Deliverable, ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    key = d.key or ctx.keys.get(d.role, "")
    against = ctx.variant_name(d.against) or ctx.baseline
    alpha = d.alpha
    expect = d.expect
    names = [variant] if variant else [v for v in ctx.variants if v != against]
    if not names:
        return None, "no variant to test against the baseline"
    verdicts, parts = [], []
    for name in names:
        a, b = ctx.by_seed(name, key), ctx.by_seed(against, key)
        cmp = stats.by_seed(a, b)
        if expect == "not_worse":
            margin = d.margin
            lo = None if cmp.delta_ci95 is None else cmp.delta_ci95[0]
            ok = lo is not None and lo >= -margin
            parts.append(f"{name} {key} change 95 % CI lower bound "
                         f"{units.MISSING if lo is None else f'{lo:+.4g}'} vs -{margin:g}")
        elif cmp.exact and cmp.delta is not None:  # the same on every seed: the difference is known, not tested
            ok = cmp.delta != 0 if expect == "different" else (cmp.delta > 0 if expect == "greater" else cmp.delta < 0)
            parts.append(f"{name} vs {against} on {key}: {cmp.delta:+.4g}, exact (the same on every seed, by "
                         f"construction: no test) ({expect})")
        else:
            p = cmp.p_value
            if p is not None and expect in ("greater", "less") and cmp.delta is not None:
                right_way = cmp.delta > 0 if expect == "greater" else cmp.delta < 0
                p = p / 2 if right_way else 1 - p / 2
            ok = p is not None and p < alpha
            parts.append(f"{name} vs {against} on {key}: {cmp.method} {units.p_equals(p)} "
                         f"({expect}, alpha {alpha:g}, n = {len(a)} and {len(b)})")
        verdicts.append(ok)
    return all(verdicts), "; ".join(parts)


def _synced_and_downloadable(d: Deliverable, ctx: Context, variant: str | None) -> tuple[bool | None, str]:
    from science import wandb_runs  # the optional extra is imported only where a job asks for W&B

    return wandb_runs.check(d, ctx.succeeded(variant))


CHECKS: dict[str, Callable[[Deliverable, Context, str | None], tuple[bool | None, str]]] = {
    "exists": _exists,
    "exists_and_loadable": _exists_and_loadable,
    "matches_expected": _matches_expected,
    "contains_sections": _contains_sections,
    "contains_keys": _contains_keys,
    "threshold": _threshold,
    "statistical_test": _statistical_test,
    "synced_and_downloadable": _synced_and_downloadable,
}
assert tuple(CHECKS) == KINDS


# -- files -------------------------------------------------------------------------------------

def _result(run: Run) -> Mapping[str, JsonValue]:
    """A succeeded run's result values (its program's `result` event)."""
    return run.result or {}


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
