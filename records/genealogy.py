"""`lab tree`: the lineage of experiments (parent, the parameters changed, the rationale)."""

from __future__ import annotations

from typing import Any


def _label(exp: dict[str, Any]) -> str:
    rating = f", {exp['rating']:g}/10" if exp.get("rating") is not None else ""
    changed = (exp.get("modifications") or {}).get("params") or (exp.get("modifications") or {}).get("edited") or {}
    change = ("  [" + ", ".join(f"{k}={v}" for k, v in sorted(changed.items())) + "]") if changed else ""
    why = (exp.get("modifications") or {}).get("rationale")
    rationale = f"  - {why}" if why else ""
    return f"{exp['id']} {exp['name']} ({exp['catalog']}, {exp['status']}{rating}){change}{rationale}"


def render_tree(experiments: list[dict[str, Any]], focus: int | None = None) -> str:
    """Forest of experiments; with `focus`, only its ancestors and its descendants."""
    by_id = {e["id"]: e for e in experiments}
    children: dict[int | None, list[dict[str, Any]]] = {}
    for exp in sorted(experiments, key=lambda e: e["id"]):
        parent = exp["parent_id"] if exp["parent_id"] in by_id else None
        children.setdefault(parent, []).append(exp)
    lines: list[str] = []
    if focus is not None:
        chain = []
        node = by_id[focus]
        while node["parent_id"] in by_id:
            node = by_id[node["parent_id"]]
            chain.append(node)
        for depth, ancestor in enumerate(reversed(chain)):
            lines.append("    " * depth + ("└── " if depth else "") + _label(ancestor))
        roots, indent = [by_id[focus]], len(chain)
    else:
        roots, indent = children.get(None, []), 0

    def walk(exp: dict[str, Any], prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(prefix + branch + _label(exp) + ("   <- this one" if exp["id"] == focus else ""))
        kids = children.get(exp["id"], [])
        next_prefix = prefix + ("" if top else ("    " if last else "│   "))
        for i, kid in enumerate(kids):
            walk(kid, next_prefix, i == len(kids) - 1, False)

    for root in roots:
        walk(root, "    " * indent + ("└── " if indent else ""), True, True)
    return "\n".join(lines)
