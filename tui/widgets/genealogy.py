"""An experiment's genealogy: its ancestors down to it, and every follow-up below it, as a tree."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from db import FamilyMember
from records.genealogy import describe


def label(e: FamilyMember, current: int) -> Text:
    text = Text(f"#{e.id} {e.name}", style="bold" if e.id == current else "")
    text.append(f" {e.status}", style="dim")
    if e.rating is not None:
        text.append(f" {e.rating:g}/10")
    if changed := describe(e):
        text.append(f"  {changed}", style="italic")
    if e.id == current:
        text.append("  ◀ this one", style="reverse")
    return text


class GenealogyTree(Tree[int]):
    def __init__(self, **kwargs: object) -> None:
        super().__init__("genealogy", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self._shown: list[tuple[Any, ...]] = []

    def show(self, family: list[FamilyMember], current: int) -> None:
        key = [(e.id, e.parent_id, e.status, e.rating) for e in family]
        if key == self._shown:
            return
        self._shown = key
        self.clear()
        ids = {e.id for e in family}
        children: dict[int | None, list[FamilyMember]] = {}
        for e in family:
            parent = e.parent_id if e.parent_id in ids else None
            children.setdefault(parent, []).append(e)

        def add(node: TreeNode[int], parent: int | None) -> None:
            for e in children.get(parent, []):
                kids = children.get(e.id)
                child = node.add(label(e, current), data=e.id, expand=True, allow_expand=bool(kids))
                if kids:
                    add(child, e.id)

        add(self.root, None)
        self.root.expand()
