"""States, stages and kinds are enums, compared as enums (issue 23): no `.status`, `.state`, `.stage`
or `.kind` of a value is compared to a string literal (or a tuple, list or set of them) in the
lab's rooms; the word is a member of its StrEnum (`db/states.py`'s ExperimentState, RunState,
SprintStage, MessageKind, ...; `agents/topic.py`'s TopicKind; a request's `kind` class attribute),
so a misspelt word fails at import, not silently at run time.

The experiment programs (experiments/) and the benchmark scripts are outside: their `kind`s are a
program's own configuration words, and the scripts read JSON."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("agents", "cli", "contract", "db", "engine", "records", "science", "tui")
TYPED = frozenset({"status", "state", "stage", "kind"})


def _typed_attribute(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in TYPED


def _words(node: ast.expr) -> bool:
    """A string literal, or a tuple, list or set of string literals only."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and bool(node.elts) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)


def literal_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, code) of each comparison of a state attribute with a string literal in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(map(_typed_attribute, sides)) and any(map(_words, sides)):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_check_finds_each_form_of_a_literal_comparison() -> None:
    source = """
if run.status == "done": pass
if "awaiting_approval" != outcome.stage: pass
if m.kind in ("proposal", "finding"): pass
if self.state not in {"ready", "closed"}: pass
ok = [x for x in xs if x.kind == "sweep"]
"""
    assert [line for line, _ in literal_comparisons(source)] == [2, 3, 4, 5, 6]


def test_the_check_lets_enums_and_other_fields_pass() -> None:
    source = """
if run.status == RunState.SUCCEEDED: pass
if m.kind in (MessageKind.PROPOSAL, MessageKind.FINDING): pass
if r.kind == Approve.kind: pass
if self.backend == "openai": pass
if kind == "local": pass
if run.status in RUN_OK: pass
"""
    assert literal_comparisons(source) == []


def test_no_state_is_compared_to_a_string_literal() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}: {code}"
                 for room in ROOMS for path in sorted((ROOT / room).rglob("*.py"))
                 for line, code in literal_comparisons(path.read_text(encoding="utf-8"))]
    assert offenders == [], "compare with the field's enum member instead:\n" + "\n".join(offenders)
