"""Command line of the experiment programs (torch-free until a run starts).

  python -m experiments list                           the catalog, one line each
  python -m experiments catalog --json                 the catalog as JSON (PROTOCOL.md §1)
  python -m experiments plan NAME --params '{...}'     validate parameters, expand the plan (§2)
  python -m experiments NAME --spec spec.json          one run for the lab (§3-5)
  python -m experiments NAME [-p key=value ...]        a quick local try of the whole plan, one seed
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from contract.catalog_answer import write_catalog
from contract.jsonvalue import JsonObject
from contract.params import ParamError
from contract.runspec import RunSpec, SpecError

from .catalog import EXPERIMENTS, get
from .declare import ParamListError
from .events import EventWriter
from .harness.errors import ExperimentError

USAGE = """usage:
  python -m experiments list                          list the experiments
  python -m experiments catalog [--json]              the catalog (JSON for the lab)
  python -m experiments plan NAME [--params JSON]     validate parameters and show the plan
  python -m experiments NAME --spec spec.json         run one run of the lab's run protocol
  python -m experiments NAME [-p key=value]... [--seed N] [--out DIR] [--threads N]
                                                      try every variant locally, one seed
examples:
  python -m experiments pruning -p profile=smoke
  python -m experiments plan quantization --params '{"profile": "smoke"}'
"""


def _err(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE + "\nexperiments: " + ", ".join(EXPERIMENTS))
        return 0
    cmd, rest = args[0], args[1:]
    if cmd == "list":
        return cmd_list()
    if cmd == "catalog":
        return cmd_catalog(rest)
    if cmd == "plan":
        return cmd_plan(rest)
    if cmd not in EXPERIMENTS:
        return _err(f"unknown experiment or command {cmd!r}; experiments: {', '.join(EXPERIMENTS)}")
    if "--spec" in rest:
        return cmd_spec(cmd, rest)
    from .local import cmd_local
    return cmd_local(cmd, rest)


def cmd_list() -> int:
    width = max(len(n) for n in EXPERIMENTS)
    for name, exp in EXPERIMENTS.items():
        n = len(exp.plan(exp.validate({})))
        print(f"{name:<{width}}  {exp.gain_phase:<9}  {n:>2} runs/seed  {exp.title}")
    return 0


def cmd_catalog(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments catalog")
    parser.add_argument("--json", action="store_true", help="print JSON (the lab's format)")
    ns = parser.parse_args(rest)
    if ns.json:
        print(json.dumps(write_catalog(e.entry() for e in EXPERIMENTS.values())))
        return 0
    for exp in EXPERIMENTS.values():
        print(f"{exp.name} ({exp.gain_phase}): {exp.title}\n  {exp.summary}")
        print("  params: " + ", ".join(f"{p.name}={json.dumps(p.default)}" for p in exp.params))
    return 0


def plan_json(name: str, given: Any) -> tuple[int, JsonObject]:
    exp = get(name)
    if exp is None:
        return 2, {"ok": False, "errors": [ParamError(None, f"unknown experiment {name!r}").to_json()]}
    if not isinstance(given, dict):
        return 2, {"ok": False, "errors": [ParamError(None, "params must be a JSON object").to_json()]}
    try:
        values = exp.validate(given)
    except ParamListError as exc:
        return 2, {"ok": False, "errors": [e.to_json() for e in exc.errors]}
    return 0, {"ok": True, "name": name, "params": values, **exp.plan_json(values)}


def cmd_plan(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments plan")
    parser.add_argument("name")
    parser.add_argument("--params", default="{}", help="a JSON object of parameters")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; output is JSON")
    ns = parser.parse_args(rest)
    out: JsonObject
    try:
        given = json.loads(ns.params)
    except json.JSONDecodeError as exc:
        code, out = 2, {"ok": False, "errors": [ParamError(None, f"--params is not valid JSON: {exc}").to_json()]}
    else:
        code, out = plan_json(ns.name, given)
    print(json.dumps(out))
    return code


def _spec_refused(spec: object, exc: SpecError) -> None:
    """The `error` event of a spec this program refuses, where the spec says its events go."""
    path = spec.get("events_path") if isinstance(spec, dict) else None
    if not isinstance(path, str) or not path:
        return
    try:
        events = EventWriter(path)
    except OSError:
        return  # stderr says it all the same
    try:
        events.error(exc)
    finally:
        events.close()


def cmd_spec(name: str, rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m experiments {name}")
    parser.add_argument("--spec", required=True)
    ns = parser.parse_args(rest)
    try:
        with open(ns.spec) as fh:
            spec = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: not JSON, not UTF-8
        return _err(f"cannot read spec {ns.spec}: {exc}", 2)
    if isinstance(spec, dict):
        spec.setdefault("name", name)
    try:
        run = RunSpec.from_json(spec)
        if run.name != name:
            raise SpecError(f"spec is for {run.name!r}, not {name!r}")
    except SpecError as exc:
        _spec_refused(spec, exc)
        return _err(f"{ns.spec}: {exc}", 2)
    from .runner import execute
    try:
        execute(run)
    except ParamListError as exc:
        return _err(str(exc), 2)
    except ExperimentError as exc:
        return _err(str(exc), getattr(exc, "exit_code", 1))  # 2: a missing optional dependency
    return 0
