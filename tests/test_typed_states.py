"""States, stages and kinds are enums, compared as enums (issue 23): no `.status`, `.state`, `.stage`
or `.kind` of a value, no `device_kind`, and no `"kind"` read from a JSON object (`x.get("kind")`,
`x["kind"]`) is compared to a string literal (or a tuple, list or set of them) in the lab's rooms;
the word is a member of its StrEnum (`db/states.py`'s ExperimentState, RunState, SprintStage,
MessageKind, ...; `contract/child_kinds.py`'s TopicKind, FollowUpKind, CommandKind, JobKind;
`science/deliverable_spec.py`'s DeliverableKind; `contract/runspec.py`'s DeviceKind;
`contract/zoo.py`'s ModelKind; a request's `kind` class attribute), so a misspelt word fails at
import, not silently at run time.

The experiment programs (experiments/) and the benchmark scripts are outside the attribute check:
their `kind`s are a program's own configuration words, and the scripts read JSON; a `"kind"` read
from JSON is checked in experiments/ too (the model zoo's kinds are shared with the lab)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("agents", "cli", "contract", "db", "engine", "records", "science", "tui")
#: the rooms where a `"kind"` read from a JSON object is checked as well
JSON_ROOMS = (*ROOMS, "experiments")
TYPED = frozenset({"status", "state", "stage", "kind", "device_kind"})


def _typed_attribute(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in TYPED) or (
        isinstance(node, ast.Name) and node.id == "device_kind") or _json_kind(node)


def _json_kind(node: ast.expr) -> bool:
    """`x.get("kind")` (with or without a default) or `x["kind"]`."""
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Attribute) and node.func.attr == "get" and bool(node.args) \
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == "kind"
    return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "kind"


def _words(node: ast.expr) -> bool:
    """A string literal, or a tuple, list or set of string literals only."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and bool(node.elts) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)


def literal_comparisons(source: str, typed: Callable[[ast.expr], bool] = _typed_attribute) -> list[tuple[int, str]]:
    """(line, code) of each comparison of a state attribute (or what ``typed`` says is one) with a
    string literal in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(map(typed, sides)) and any(map(_words, sides)):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_check_finds_each_form_of_a_literal_comparison() -> None:
    source = """
if run.status == "done": pass
if "awaiting_approval" != outcome.stage: pass
if m.kind in ("proposal", "finding"): pass
if self.state not in {"ready", "closed"}: pass
ok = [x for x in xs if x.kind == "sweep"]
if mods.get("kind") == "combination": pass
if d["kind"] != "synced_and_downloadable": pass
if meta.get("kind", "") in ("causal-lm", "image-classifier"): pass
if device_kind == "cuda": pass
if run.device_kind != "cpu": pass
"""
    assert sorted(line for line, _ in literal_comparisons(source)) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]


def test_the_check_lets_enums_and_other_fields_pass() -> None:
    source = """
if run.status == RunState.SUCCEEDED: pass
if m.kind in (MessageKind.PROPOSAL, MessageKind.FINDING): pass
if r.kind == Approve.kind: pass
if self.backend == "openai": pass
if kind == "local": pass
if run.status in RUN_OK: pass
if mods.get("kind") == TopicKind.COMBINATION: pass
if d["kind"] == DeliverableKind.THRESHOLD: pass
if device_kind == DeviceKind.CUDA: pass
if mods.get("rule") == "stack" or d["name"] == "x" or kinds["x"] == "y": pass
"""
    assert literal_comparisons(source) == []


def test_no_state_is_compared_to_a_string_literal() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}: {code}"
                 for room in ROOMS for path in sorted((ROOT / room).rglob("*.py"))
                 for line, code in literal_comparisons(path.read_text(encoding="utf-8"))]
    assert offenders == [], "compare with the field's enum member instead:\n" + "\n".join(offenders)


def test_no_kind_read_from_json_is_compared_to_a_string_literal_in_the_programs() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}: {code}"
                 for room in sorted(set(JSON_ROOMS) - set(ROOMS)) for path in sorted((ROOT / room).rglob("*.py"))
                 for line, code in literal_comparisons(path.read_text(encoding="utf-8"), _json_kind)]
    assert offenders == [], "compare with the kind's enum member instead:\n" + "\n".join(offenders)
