"""A candidate topic of research: what the strategy (agents/strategy.py) proposes to study, the
roadmap (agents/steering.py) ranks, and the researcher, architect and coder take up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Topic:
    kind: str                      # sweep, forced, adopt, follow_up, combination, generated, retry
    catalog: str
    rationale: str
    evidence: list[str] = field(default_factory=list)
    base_params: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)
    seeds: int | None = None
    parent_id: int | None = None
    adopt_id: int | None = None    # an existing proposal taken up
    hypothesis: str = ""
    research_question: str = ""
    deliverables: list[dict[str, Any]] = field(default_factory=list)  # beyond the catalog entry's
    extra: dict[str, Any] = field(default_factory=dict)
    criterion: str = ""            # the roadmap criterion it serves (science/roadmap.py), when it serves one

    @property
    def params(self) -> dict[str, Any]:
        return {**self.base_params, **self.changes}

    def modifications(self, parent_seeds: int | None) -> dict[str, Any]:
        if self.parent_id is None:
            return {}
        mods: dict[str, Any] = {"kind": self.kind, "params": self.changes, "rationale": self.rationale,
                                "evidence": self.evidence}
        if self.seeds is not None and parent_seeds is not None and self.seeds != parent_seeds:
            mods["seeds"] = {"from": parent_seeds, "to": self.seeds}
        mods.update({k: v for k, v in self.extra.items() if k in ("from_experiment", "rule")})
        return mods
