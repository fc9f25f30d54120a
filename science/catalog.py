"""The experiment catalog as the lab sees it: asked of the experiment programs, never imported.

`python -m experiments catalog --json` and `python -m experiments plan <name> --params <json>`
(docs/PROTOCOL.md) answer without torch, so the lab stays light and the rooms stay apart. The
catalog's answer is read by contract/catalog_answer.py into the entry type the programs write
(``CatalogEntry``, which the lab imports from there).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contract import codesnap, layout, quantities, units
from contract.catalog_answer import CatalogEntry, CatalogFormatError, read_catalog
from contract.jsonvalue import JsonObject, JsonValue, json_object, text_at
from contract.params import Param, ParamError, ParamValue, ParamValues, param_values
from contract.plan import PlanStep, plan_of
from science.thresholds import QUALITY_MARGIN

ENV_MODULE = "JOULELAB_EXPERIMENTS_MODULE"
TIMEOUT_S = 60


class CatalogError(RuntimeError):
    """The experiment programs could not be asked (not installed, crashed)."""


class InvalidParamsError(ValueError):
    """Parameters the catalog refuses; `errors` holds (param, message) per problem."""

    def __init__(self, errors: list[tuple[str | None, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in errors))


def typed(param: Param, text: str) -> ParamValue:
    """A value as typed (`-p key=value`, a form field) converted to the parameter's type, or the
    text itself when it does not convert: the catalog then refuses it with the reason."""
    try:
        return param.coerce(text)
    except ParamError:
        return text


def margin_text(entry: CatalogEntry) -> str:
    """An entry's "quality kept" margin as its quality's kind says it: '1 point', '3 % of the reference'."""
    margin = entry.quality_margin if entry.quality_margin is not None else QUALITY_MARGIN
    return units.margin(margin, quantities.kind_of(entry.metrics.get("quality", "test_accuracy")))


@dataclass
class Plan:
    """The programs' plan answer (docs/PROTOCOL.md §2): the parameters as validated and each
    variant as the experiment's `plan` column keeps it."""
    name: str
    params: ParamValues
    variants: tuple[PlanStep, ...] = ()
    headline: str | None = None          # the declared primary variant for these parameters
    speedup_batch: int | None = None


def code_hash(module: str) -> str | None:
    """The experiment programs' source hash (contract.codesnap: the one the engine puts in every
    run's spec), so an answer cached under it is stale as soon as any program changes; None when it
    cannot be read, and for a dotted name (finding it would import its parent packages into this
    light process)."""
    if "." in module:
        return None
    try:
        return codesnap.tree_hash(codesnap.source_files(module))[:24]
    except (codesnap.CodeNotFoundError, ImportError, ValueError, OSError):
        return None


#: parameters naming the user's files: a plan that reads them is asked again every time
FILE_PARAMS = ("data", "model", "model_name")


def _lasting(args: tuple[str, ...], code: int, answer: JsonObject) -> bool:
    """Whether an answer holds as long as the programs do: a success that read no user file (a
    refusal may be about a file the user is about to fix)."""
    if code != 0 or answer.get("ok") is False:
        return False
    if args[:1] == ("plan",) and "--params" in args:
        try:
            params = json.loads(args[args.index("--params") + 1])
        except (ValueError, IndexError):
            return False
        return not (isinstance(params, dict) and any(params.get(k) for k in FILE_PARAMS))
    return True


class Catalog:
    """Ask the experiment programs. Their answers (the catalog, a plan for given parameters) are
    kept for the life of the object and on disk under the programs' code hash, so a command asks
    a Python process only the first time after the programs change."""

    def __init__(self, module: str | None = None, python: str = sys.executable) -> None:
        self.module = module or os.environ.get(ENV_MODULE) or "experiments"
        self.python = python
        self._entries: dict[str, CatalogEntry] | None = None
        self._hash: str | None = code_hash(self.module) if python == sys.executable else None

    def _cached(self, args: tuple[str, ...]) -> Path | None:
        if self._hash is None:
            return None
        key = hashlib.sha256("\0".join(args).encode()).hexdigest()[:24]
        return layout.cache_dir() / "catalog" / self._hash / f"{key}.json"

    def _ask(self, *args: str) -> tuple[int, JsonObject]:
        path = self._cached(args)
        if path is not None:
            try:
                code, cached = json.loads(path.read_text())
                if isinstance(code, int) and (answer := json_object(cached)) is not None:
                    return code, answer
            except (OSError, ValueError, TypeError):
                pass
        code, answer = self._ask_programs(*args)
        if path is not None and _lasting(args, code, answer):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps([code, answer]))
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only or full cache only costs the next command the same question
        return code, answer

    def _ask_programs(self, *args: str) -> tuple[int, JsonObject]:
        cmd = [self.python, "-m", self.module, *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CatalogError(f"cannot ask the experiment programs ({' '.join(cmd[1:])}): {exc}") from exc
        try:
            answer = json_object(json.loads(done.stdout))
            if answer is None:
                raise ValueError("not an object")
        except ValueError:
            err = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CatalogError(f"`{' '.join(cmd[1:])}` failed (exit {done.returncode}): {err}") from None
        return done.returncode, answer

    def entries(self) -> dict[str, CatalogEntry]:
        if self._entries is None:
            _, answer = self._ask("catalog", "--json")
            try:
                self._entries = read_catalog(answer)
            except CatalogFormatError as exc:
                raise CatalogError(f"`{self.module} catalog --json`: {exc}") from None
        return self._entries

    def names(self) -> list[str]:
        return sorted(self.entries())

    def get(self, name: str) -> CatalogEntry:
        entries = self.entries()
        if name not in entries:
            raise InvalidParamsError([(None, f"unknown experiment {name!r}; the catalog has: "
                                        f"{', '.join(sorted(entries))} (see `lab list`)")])
        return entries[name]

    def plan(self, name: str, params: Mapping[str, JsonValue]) -> Plan:
        """Validate parameters and expand the plan; InvalidParamsError lists every problem."""
        self.get(name)
        code, answer = self._ask("plan", name, "--params", json.dumps(params))
        if not answer.get("ok"):
            errors = [(text_at(e, "param"), str(e.get("message", ""))) for e in _objects(answer.get("errors"))]
            raise InvalidParamsError(errors or [(None, f"the catalog refused the parameters (exit {code})")])
        headline = answer.get("headline")
        batch = answer.get("speedup_batch")
        return Plan(text_at(answer, "name") or name, param_values(answer.get("params")) or {},
                    plan_of(answer.get("variants")), headline if isinstance(headline, str) else None,
                    batch if isinstance(batch, int) else None)


def _objects(value: JsonValue) -> list[JsonObject]:
    """The JSON objects of a list in an answer (anything else in it is not one)."""
    return [o for v in value if (o := json_object(v)) is not None] if isinstance(value, list) else []
