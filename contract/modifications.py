"""What a child experiment changes against its parent, as its `modifications` column holds it:
whatever made it (a follow-up or a topic of the research team, a genealogy job file, a
reproduction of a record, a person's edit of a waiting proposal) writes one `Modifications`,
each part it does not say left out of the JSON; its `kind` is one of contract/child_kinds.py's.
The store decodes the column once into it (db/rows.py); the lineage (records/genealogy.py), the
reports and the team read it by attribute."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Self

from contract.child_kinds import ChildKind, FollowUpKind, UnknownKind, child_kind, follow_up_kind
from contract.jsonvalue import JsonObject, JsonValue
from contract.params import ParamValues, param_values
from contract.record_json import OPT, JsonRecord, read


@dataclass(frozen=True)
class ParamChange(JsonRecord):
    """One parameter a genealogy job changed: from the parent's value (`from`) to its own (`to`)."""

    parameter: str = ""
    before: JsonValue = None
    after: JsonValue = None

    def to_json(self) -> JsonObject:
        return {"parameter": self.parameter, "from": self.before, "to": self.after}

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        parameter = data.get("parameter")
        return cls(str(parameter), data.get("from"), data.get("to"))


@dataclass(frozen=True)
class Interval(JsonRecord):
    """One role of one variant of a reproduced experiment: its seeds, mean and 95 % CI."""

    n: int | None = None
    mean: float | None = None
    ci95: tuple[float | None, float | None] | None = None


@dataclass(frozen=True)
class Original(JsonRecord):
    """What a reproduction is compared with (its modifications' `original`): the keys, and per
    variant and role its `Interval`."""

    keys: dict[str, str] = field(default_factory=dict)
    variants: dict[str, dict[str, Interval]] = field(default_factory=dict)

    @classmethod
    def read(cls, data: object) -> Original:
        """The original as a reproduction's modifications keep it (an empty one when they do not)."""
        return read(cls, data) or cls()


@dataclass(frozen=True)
class RecordRef(JsonRecord):
    """The git record a reproduction re-runs: its tag, commit and folder."""

    tag: str = ""
    sha: str = ""
    folder: str = ""


_PARAMS = ("params", "edited")  # parameter values, kept as written (a list of floats stays one): param_values
_OWN = ("kind", "rule", *_PARAMS)  # read here, not field by field


@dataclass(frozen=True)
class Modifications(JsonRecord):
    """A child's changes against its parent: the rule or topic that made it (`kind`), the parameters
    it changes and why, its seeds (`{"from": the parent's, "to": its own}`); a genealogy job's parent
    as the file named it and each change from/to; a reproduction's record and the intervals it is
    compared with; the parameters a person edited while it waited."""

    kind: ChildKind | None = field(default=None, metadata=OPT)  # an unknown word is kept as written
    params: ParamValues | None = field(default=None, metadata=OPT)
    rationale: str | None = field(default=None, metadata=OPT)
    evidence: tuple[str, ...] | None = field(default=None, metadata=OPT)
    seeds: dict[str, int] | None = field(default=None, metadata=OPT)
    from_experiment: int | None = field(default=None, metadata=OPT)  # whose settings it carries over
    rule: FollowUpKind | UnknownKind | None = field(default=None, metadata=OPT)  # the follow-up rule that proposed it
    generated: str | None = field(default=None, metadata=OPT)        # the sha256 of its generated program
    parent_experiment: int | str | None = field(default=None, metadata=OPT)  # as a genealogy job named it
    changes: tuple[ParamChange, ...] | None = field(default=None, metadata=OPT)
    of: int | None = field(default=None, metadata=OPT)                # the experiment a reproduction re-runs
    record: RecordRef | None = field(default=None, metadata=OPT)
    original: Original | None = field(default=None, metadata=OPT)
    edited: ParamValues | None = field(default=None, metadata=OPT)    # what a person edited while it waited

    @property
    def changed(self) -> ParamValues:
        """The parameters it sets (none: it changes none)."""
        return self.params or {}

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        out = super().from_json({k: v for k, v in data.items() if k not in _OWN})
        params, edited, kind, rule = (param_values(data.get("params")), param_values(data.get("edited")),
                                      data.get("kind"), data.get("rule"))
        return replace(out, params=None if params is None else dict(params), edited=None if edited is None else dict(edited),
                       kind=child_kind(kind) if isinstance(kind, str) else None,
                       rule=follow_up_kind(rule) if isinstance(rule, str) else None)


def modifications_of(value: object) -> Modifications:
    """The column as JSON holds it, typed (an empty one for anything but an object)."""
    return read(Modifications, value) or Modifications()
