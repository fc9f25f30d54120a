"""The quick local try: every variant of the plan for one seed, in dependency order, in-process,
then a compact table of the main results."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contract import runfiles
from contract.events import ResultValues
from contract.runspec import Dependency, DeviceKind, RunSpec

from .catalog import get
from .declare import Experiment, ParamListError, ParamValues, Variant
from .harness.errors import ExperimentError
from .paramread import text


def _parse_pairs(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"-p expects key=value, got {pair!r}")
        out[key.strip()] = value
    return out


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0:
            return "0"
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e5 else f"{value:.4g}"
    return str(value)


def table_keys(exp: Experiment) -> list[str]:
    keys = [exp.metrics.get(k) for k in ("quality", "time", "size", "energy")]
    return list(dict.fromkeys([k for k in keys if k] + list(exp.table_keys)))


def render_table(exp: Experiment, rows: list[tuple[str, ResultValues | str]]) -> str:
    keys = table_keys(exp)
    header = ["variant", *keys]
    lines = [header]
    for name, values in rows:
        if isinstance(values, str):
            lines.append([name, values] + [""] * (len(keys) - 1))
        elif values.get("skipped"):
            lines.append([name, "skipped: " + str(values.get("skip_reason", ""))] + [""] * (len(keys) - 1))
        else:
            lines.append([name] + [fmt(values.get(k)) for k in keys])
    widths = [max(len(r[i]) for r in lines if not (i == 1 and len(r[1]) > 30 and r[2:] == [""] * (len(r) - 2)))
              if i else max(len(r[0]) for r in lines) for i in range(len(header))]
    out = []
    for j, r in enumerate(lines):
        out.append("  ".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _parser(name: str, exp: Experiment) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m experiments {name}",
                                     description=f"{exp.title}: {exp.summary}")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="set a parameter (repeatable); see `python -m experiments catalog`")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="output folder (default: a new temp folder)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1, like a lab slot)")
    parser.add_argument("--cache", default=None, help="dataset cache (default: $JOULELAB_CACHE)")
    return parser


def _spec(name: str, v: Variant, ns: argparse.Namespace, params: ParamValues, out: Path,
          done: dict[str, ResultValues]) -> RunSpec:
    """The spec of one variant's run, its dependencies' results those of this try; written beside the
    run, as the lab leaves it (the zoo reads it)."""
    run_dir = out / v.name
    spec = RunSpec(run_id=None, name=name, variant=v.name, seed=ns.seed, params=params,
                   variant_params=v.params, profile=text(params, "profile"), device=DeviceKind(text(params, "device")),
                   threads=ns.threads, output_dir=str(run_dir), events_path=str(run_dir / runfiles.EVENTS),
                   cache_dir=ns.cache,
                   dependencies={d: Dependency(run_id=None, output_dir=str(out / d), result=done[d])
                                 for d in v.depends_on})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / runfiles.SPEC).write_text(json.dumps(spec.to_json(), indent=2, sort_keys=True, default=str))
    return spec


def _energy_note(done: dict[str, ResultValues]) -> str | None:
    """How the tries' energy was measured (modes and sources), or None when none says."""
    energy = {v.get("energy_mode") for v in done.values() if isinstance(v, dict) and "energy_mode" in v}
    if not energy:
        return None
    return (f"energy: {', '.join(sorted(str(mode) for mode in energy))} "
            f"({', '.join(sorted({str(v.get('energy_source')) for v in done.values() if 'energy_source' in v}))})")


def cmd_local(name: str, rest: list[str]) -> int:
    exp = get(name)
    assert exp is not None
    ns = _parser(name, exp).parse_args(rest)
    try:
        params = exp.validate(_parse_pairs(ns.param))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ParamListError as exc:
        for e in exc.errors:
            print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(ns.out or tempfile.mkdtemp(prefix=f"joulelab-{name}-")).resolve()
    variants = exp.plan(params)
    print(f"{name}: {len(variants)} variant(s), seed {ns.seed}, profile {params['profile']}, "
          f"device {params['device']} -> {out}", flush=True)
    from .runner import execute  # torch is imported by the first run
    done: dict[str, ResultValues] = {}
    rows: list[tuple[str, ResultValues | str]] = []
    failed = False
    for v in variants:
        missing = [d for d in v.depends_on if d not in done]
        if missing:
            rows.append((v.name, f"not run: dependency {missing[0]} failed"))
            failed = True
            continue
        spec = _spec(name, v, ns, params, out, done)
        t0 = time.perf_counter()
        print(f"  {v.name} ...", end="", flush=True)
        try:
            done[v.name] = execute(spec)
            rows.append((v.name, done[v.name]))
            print(f" {time.perf_counter() - t0:.1f} s", flush=True)
        except ExperimentError as exc:
            print(" failed", flush=True)
            print(f"error: {exc}", file=sys.stderr)
            if getattr(exc, "exit_code", 1) == 2:  # a missing optional dependency: no run can go on
                return 2
            rows.append((v.name, f"failed: {exc}"))
            failed = True
    print()
    print(render_table(exp, rows))
    note = _energy_note(done)
    if note is not None:
        print(f"\n{note}")
    print(f"events and checkpoints: {out}")
    return 1 if failed else 0
