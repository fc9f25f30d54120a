"""No import cycle among the project's modules.

Every import counts: at module level (inside ``try`` or ``if`` too), under ``if TYPE_CHECKING:``
and inside functions. A cycle closed by an import for annotations or by one deferred into a
function ties the modules into one unit of change just as well (the control room was a 14-module
circle closed that way: the app imported its screens, the screens the app); it only hides from
the order of loading. The rooms' direction is checked by import-linter (`pyproject.toml`), this
checks the modules inside each room.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "benchmarks", "cli", "contract", "db", "engine", "experiments", "records", "science", "tui")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, wherever it stands: at module level, under ``try``,
    ``if`` and ``if TYPE_CHECKING:``, and inside functions and classes."""
    return [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports when loaded."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                candidates = [f"{base}.{a.name}" for a in node.names] + [base]
            for cand in candidates:
                # the deepest project module the name refers to (a name may be a module or an attribute)
                while cand and cand not in files:
                    cand = cand.rpartition(".")[0]
                if cand and cand != name:
                    targets.add(cand)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_the_cycle_finder_finds_a_cycle_and_counts_type_checking_and_function_local_imports() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\n"
                     "try:\n    import y\nexcept ImportError:\n    import z\ndef f():\n    import w\n"
                     "class C:\n    def g(self):\n        import v\n")
    assert sorted(a.name for n in _imports(tree) if isinstance(n, ast.Import) for a in n.names) == [
        "v", "w", "x", "y", "z"]


def test_no_import_cycle_among_the_project_s_modules() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)
