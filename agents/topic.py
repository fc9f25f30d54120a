"""A candidate topic of research: what the strategy (agents/strategy.py) proposes to study, the
roadmap (agents/steering.py) ranks, and the researcher, architect and coder take up."""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.child_kinds import FollowUpKind, TopicKind
from contract.deliverable import Deliverable
from contract.modifications import Modifications
from contract.params import ParamValues


@dataclass
class Topic:
    kind: TopicKind
    catalog: str
    rationale: str
    evidence: list[str] = field(default_factory=list)
    base_params: ParamValues = field(default_factory=dict)
    changes: ParamValues = field(default_factory=dict)
    seeds: int | None = None
    parent_id: int | None = None
    adopt_id: int | None = None    # an existing proposal taken up
    hypothesis: str = ""
    research_question: str = ""
    deliverables: tuple[Deliverable, ...] = ()  # beyond the catalog entry's
    criterion: str = ""            # the roadmap criterion it serves (science/roadmap_standing.py), when it serves one
    rule: FollowUpKind | None = None  # the follow-up rule that proposed it (science/followups.py)
    from_experiment: int | None = None   # a combination: the experiment whose settings it carries over
    pair: tuple[int, int] | None = None  # generated code: the two experiments it combines
    parent_rating: float | None = None   # a proposal taken up: its parent's rating (the better first)

    @property
    def params(self) -> ParamValues:
        return {**self.base_params, **self.changes}

    def modifications(self, parent_seeds: int | None) -> Modifications | None:
        """What it changes against its parent; None for a topic without one."""
        if self.parent_id is None:
            return None
        seeds = None
        if self.seeds is not None and parent_seeds is not None and self.seeds != parent_seeds:
            seeds = {"from": parent_seeds, "to": self.seeds}
        return Modifications(self.kind, self.changes, self.rationale, tuple(self.evidence), seeds,
                             self.from_experiment, self.rule)
