"""A job's lineage (the published document's "experiment genealogy", section 8): the parent it
derives from (`parent_experiment`, by its external id or its lab id; `parent` in the lab's own
format), the `modifications` made to the parent's configuration (`{"parameter", "from", "to"}`),
and the `rationale`. Read here from the file (`parse`); applied to the parent's configuration
when the job is submitted (`apply`), each `from` checked against the parent's value, and recorded
as the child's `modifications` (`record`), which `lab show`, `lab diff`, `lab tree` and the control
room's genealogy print (records/genealogy.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contract.child_kinds import JobKind
from contract.jsonvalue import JsonObject, JsonValue, json_object
from contract.modifications import Modifications, ParamChange
from contract.params import param_values

CHANGE_FIELDS = ("parameter", "from", "to")
PREFIXES = ("config.", "params.")


@dataclass(frozen=True)
class Change:
    """One modification: `parameter` from `before` (when the file says) to `after`."""
    parameter: str
    after: JsonValue
    before: JsonValue = None
    has_before: bool = False

    def recorded(self, parent_value: JsonValue = None) -> ParamChange:
        """The change as the child's modifications keep it (`from`: the parent's value unless the file said)."""
        return ParamChange(self.parameter, self.before if self.has_before else parent_value, self.after)


@dataclass(frozen=True)
class Lineage:
    """Where a job comes from: its parent (a lab id, or an external id to look up), the changes and
    why. `inherit`: the job names no entry of its own, so the parent's configuration is its base."""
    parent: int | str
    changes: tuple[Change, ...] = ()
    rationale: str = ""
    inherit: bool = True
    field: str = "parent_experiment"   # where the file named the parent (for its messages)

    @property
    def label(self) -> str:
        return f"experiment {self.parent}" if isinstance(self.parent, int) else repr(self.parent)


def _show(value: object) -> str:
    return json.dumps(value)[:40]


def parent_ref(value: JsonValue, field: str, problems: list[str]) -> int | str | None:
    """A parent given as a lab id (a positive integer, or its digits) or an external id."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value.strip() and len(value) <= 200 and value.isprintable():
        text = value.strip()
        return int(text) if text.isdigit() and int(text) >= 1 else text
    problems.append(f"{field}: expected the external id or the lab id of an existing experiment, got {_show(value)}")
    return None


def _change(i: int, given: JsonValue, problems: list[str]) -> Change | None:
    where = f"modifications[{i}]"
    item = json_object(given)
    if item is None:
        problems.append(f'{where}: expected {{"parameter": name, "from": value, "to": value}}, got {_show(given)}')
        return None
    extra = sorted(set(item) - set(CHANGE_FIELDS))
    if extra:
        problems.append(f"{where}: unknown field(s) {', '.join(extra)} (known: parameter, from, to)")
    name = item.get("parameter")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}.parameter: expected the name of a parameter of the parent's entry")
        return None
    for prefix in PREFIXES:
        name = name.removeprefix(prefix)
    if "to" not in item:
        problems.append(f"{where}.to: the new value of {name} is missing")
        return None
    return Change(name, item["to"], item.get("from"), "from" in item)


def parse_changes(value: JsonValue, problems: list[str]) -> tuple[Change, ...]:
    if not isinstance(value, list):
        problems.append(f'modifications: expected a list of {{"parameter", "from", "to"}}, got {_show(value)}')
        return ()
    changes = [c for i, item in enumerate(value) if (c := _change(i, item, problems)) is not None]
    seen: set[str] = set()
    for c in changes:
        if c.parameter in seen:
            problems.append(f"modifications: {c.parameter} is changed twice; give it once")
        seen.add(c.parameter)
    return tuple(changes)


def parse(data: Mapping[str, JsonValue], problems: list[str], *, inherit: bool) -> Lineage | None:
    """The lineage a job file declares (`parent_experiment` or `parent`, `modifications`,
    `rationale`), or None when it names no parent."""
    given = [k for k in ("parent_experiment", "parent") if data.get(k) is not None]
    if len(given) == 2:
        problems.append("parent_experiment and parent: give one (the parent's external id or lab id)")
    rationale = data.get("rationale", "")
    if not isinstance(rationale, str):
        problems.append(f"rationale: expected a string, got {_show(rationale)}")
        rationale = ""
    changes = parse_changes(data["modifications"], problems) if "modifications" in data else ()
    if not given:
        if "modifications" in data or rationale:
            problems.append("parent_experiment: modifications and a rationale need the experiment they modify "
                            "(its external id or lab id)")
        return None
    ref = parent_ref(data[given[0]], given[0], problems)
    return None if ref is None else Lineage(ref, changes, rationale, inherit, given[0])


def _same(a: JsonValue, b: JsonValue) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return bool(a == b)


def apply(lineage: Lineage, parent_params: Mapping[str, JsonValue], base: Mapping[str, JsonValue],
          declared: Sequence[str], parent_label: str, problems: list[str]) -> JsonObject:
    """`base` with the changes applied; each change's parameter must be one the entry declares
    and its `from` the parent's value (a problem each, named by its place in the file)."""
    out = dict(base)
    for i, c in enumerate(lineage.changes):
        if c.parameter not in declared:
            problems.append(f"modifications[{i}]: {c.parameter} is not a parameter of this entry (its parameters: "
                            f"{', '.join(sorted(declared))})")
            continue
        if c.has_before and not _same(parent_params.get(c.parameter), c.before):
            problems.append(f"modifications[{i}]: {c.parameter} is {_show(parent_params.get(c.parameter))} in "
                            f"{parent_label}, not {_show(c.before)} as `from` says")
        out[c.parameter] = c.after
    return out


def record(lineage: Lineage, parent_params: Mapping[str, JsonValue], parent_id: int, external: str | None,
           ) -> Modifications:
    """The child's `modifications` (records/genealogy.py reads them)."""
    return Modifications(kind=JobKind.GENEALOGY, parent_experiment=external or parent_id,
                         params=param_values({c.parameter: c.after for c in lineage.changes}) or {},
                         changes=tuple(c.recorded(parent_params.get(c.parameter)) for c in lineage.changes),
                         rationale=lineage.rationale)
