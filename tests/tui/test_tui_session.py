"""The control room's seam: a screen works with the session it is given (tui/session.py) and asks
the app for things by typed messages; it uses of `self.app` only what every Textual app has
(push a screen, post a message, the console), never the control room's own attributes. That
screens never import the app is import-linter's (pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

from textual.app import App

ROOT = Path(__file__).resolve().parents[2]
TEXTUAL_APP = frozenset(dir(App()))  # what every Textual app has (its console is set in __init__)


def reaches_into_the_app(source: str) -> list[str]:
    """Each use of `self.app` in `source` that is not an attribute every Textual app has: one of
    the control room's own (`self.app.status`), or the app itself handed on (`app = self.app`)."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in ("app", "lab_app")
                and isinstance(node.value, ast.Name) and node.value.id == "self"):
            continue
        parent = parents.get(node)
        if node.attr == "lab_app" or not isinstance(parent, ast.Attribute):
            found.append(f"line {node.lineno}: self.{node.attr}")
        elif parent.attr not in TEXTUAL_APP:
            found.append(f"line {node.lineno}: self.app.{parent.attr}")
    return sorted(found, key=lambda hit: int(hit.split(":")[0].removeprefix("line ")))


def test_the_check_finds_a_screen_reaching_into_the_app() -> None:
    source = ("class S:\n    def f(self):\n        self.app.push_screen(x)\n        self.app.post_message(m)\n"
              "        self.app.actions.request(r)\n        app = self.app\n        self.lab_app.status\n")
    assert reaches_into_the_app(source) == ["line 5: self.app.actions", "line 6: self.app", "line 7: self.lab_app"]


def test_screens_work_with_their_session_not_with_the_app() -> None:
    found = {path.relative_to(ROOT).as_posix(): hits for path in sorted((ROOT / "tui" / "screens").glob("*.py"))
             if (hits := reaches_into_the_app(path.read_text()))}
    assert not found, f"screens reaching into the app (give them what they need through the session): {found}"
