"""The lineage of experiments: what a child changed from its parent and why (`changes`, `describe`,
read from its recorded `modifications`, whatever made it: a genealogy file, a sprint, a follow-up,
an edit, a reproduction), and `lab tree` (parent, the changes, the rationale)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from contract.jsonvalue import JsonValue
from db import Experiment, FamilyMember

Lineaged = Experiment | FamilyMember  # what the lineage reads of an experiment: its modifications


@dataclass(frozen=True)
class Change:
    parameter: str
    before: JsonValue     # None when the record does not say (older kinds of modification)
    after: JsonValue
    known_before: bool = True

    def text(self) -> str:
        if not self.known_before:
            return f"{self.parameter}={json.dumps(self.after)}"
        return f"{self.parameter} {json.dumps(self.before)} -> {json.dumps(self.after)}"


def changes(exp: Lineaged) -> list[Change]:
    """The parameters a child changed: `changes` ({parameter, from, to}) where the record has them,
    else `params` / `edited` (new values only), and the seeds."""
    mods = exp.modifications
    out: list[Change] = []
    if mods.changes is not None:
        out += [Change(c.parameter, c.before, c.after) for c in mods.changes]
    else:
        for given in (mods.params, mods.edited):
            out += [Change(str(k), None, v, False) for k, v in sorted((given or {}).items())]
    seeds = mods.seeds
    if seeds is not None and seeds.get("from") != seeds.get("to"):
        out.append(Change("seeds", seeds.get("from"), seeds.get("to")))
    return out


def rationale(exp: Lineaged) -> str:
    return exp.modifications.rationale or ""


def describe(exp: Lineaged) -> str:
    """'learning_rate 0.001 -> 0.0005, batch_size 8 -> 16 (because ...)' or ''."""
    listed = ", ".join(c.text() for c in changes(exp))
    why = rationale(exp)
    return listed + (f" ({why})" if why and listed else why)


def _label(exp: Lineaged) -> str:
    rating = f", {exp.rating:g}/10" if exp.rating is not None else ""
    listed = changes(exp)
    change = ("  [" + ", ".join(c.text() for c in listed) + "]") if listed else ""
    why = rationale(exp)
    return f"{exp.id} {exp.name} ({exp.catalog}, {exp.status}{rating}){change}" + (f"  - {why}" if why else "")


def render_tree(experiments: list[Experiment], focus: int | None = None) -> str:
    """Forest of experiments; with `focus`, only its ancestors and its descendants."""
    by_id = {e.id: e for e in experiments}
    children: dict[int | None, list[Experiment]] = {}
    for exp in sorted(experiments, key=lambda e: e.id):
        parent = exp.parent_id if exp.parent_id in by_id else None
        children.setdefault(parent, []).append(exp)
    lines: list[str] = []
    if focus is not None:
        chain = []
        node = by_id[focus]
        while node.parent_id in by_id:
            node = by_id[node.parent_id]
            chain.append(node)
        for depth, ancestor in enumerate(reversed(chain)):
            lines.append("    " * depth + ("└── " if depth else "") + _label(ancestor))
        roots, indent = [by_id[focus]], len(chain)
    else:
        roots, indent = children.get(None, []), 0

    def walk(exp: Experiment, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(prefix + branch + _label(exp) + ("   <- this one" if exp.id == focus else ""))
        kids = children.get(exp.id, [])
        next_prefix = prefix + ("" if top else ("    " if last else "│   "))
        for i, kid in enumerate(kids):
            walk(kid, next_prefix, i == len(kids) - 1, False)

    for root in roots:
        walk(root, "    " * indent + ("└── " if indent else ""), True, True)
    return "\n".join(lines)
