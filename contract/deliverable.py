"""A deliverable as the lab keeps it, typed: its JSON as submitted (the published pipeline
document's field names as the lab's, `normalize`) parsed once into its fields (`Deliverable`),
and its check as the rating keeps it (`CheckedDeliverable`). What each kind promises and what is
wrong with one are science/deliverable_spec.py; how each kind is checked is science/deliverables.py.
The experiment's `deliverables` column decodes into `Deliverable`s (db/rows.py) and is written
back as the JSON each was given (`to_json`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from contract.jsonvalue import JsonObject, JsonValue, number_at, text_at
from contract.record_json import JsonRecord

#: the published pipeline document's names of a deliverable's fields -> the lab's
ALIASES = {"required_keys": "keys", "metric": "key", "operator": "op"}
#: what a W&B run must hold when its `required_metrics` are not given (the document's list)
WANDB_METRICS = ("train_loss", "eval_loss", "accuracy")
VERDICT = ("ok", "status", "detail")  # what the validator adds to a deliverable as declared


def normalize(d: Mapping[str, JsonValue]) -> tuple[JsonObject, list[str]]:
    """The deliverable with the document's field names as the lab's (`required_keys` -> `keys`,
    `metric` -> `key`, `operator` -> `op`), and a problem where both name different values."""
    out, problems = dict(d), []
    for theirs, ours in ALIASES.items():
        if theirs not in out:
            continue
        value = out.pop(theirs)
        if ours in out and out[ours] != value:
            problems.append(f"{theirs} and {ours} say different things ({json.dumps(value)[:30]} and "
                            f"{json.dumps(out[ours])[:30]}): give one")
        out[ours] = value
    return out, problems


@dataclass(frozen=True)
class Deliverable(JsonRecord):
    """A deliverable as the checks read it: its JSON (normalized: the lab's field names) parsed once,
    each field typed, absent ones at the default the kind's check assumes."""
    given: JsonObject                       # as submitted, normalized (written back as it stands)
    kind: str
    variant: str | None = None
    path: str | None = None                 # a file relative to each run's folder, a glob allowed
    artifact_kind: str | None = None        # or an artifact the run reported
    target: str | None = None               # or REPORT_TARGET: the lab's report of the experiment
    key: str | None = None
    keys: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    op: str = ">="
    value: float | None = None
    expected: JsonValue = None
    sha256: str | None = None
    tolerance: float | None = None
    rel_tolerance: float | None = None
    aggregate: str = "each"
    role: str = "quality"
    against: str = "baseline"
    expect: str = "different"
    alpha: float = 0.05
    margin: float = 0.01
    project: str | None = None
    required_metrics: tuple[str, ...] = WANDB_METRICS

    @classmethod
    def of(cls, given: Mapping[str, JsonValue]) -> Self:
        """The deliverable, typed (a field of the wrong JSON type reads as absent: `problems` says
        what is wrong with one as submitted)."""
        d = normalize(given)[0]
        alpha, margin = number_at(d, "alpha"), number_at(d, "margin")
        return cls(
            d, text_at(d, "kind") or "", variant=text_at(d, "variant"), path=text_at(d, "path"),
            artifact_kind=text_at(d, "artifact_kind"), target=text_at(d, "target"), key=text_at(d, "key"),
            keys=_texts(d.get("keys")), sections=_texts(d.get("sections")), op=_text_or(d, "op", ">="),
            value=number_at(d, "value"), expected=d.get("expected"), sha256=text_at(d, "sha256"),
            tolerance=number_at(d, "tolerance"), rel_tolerance=number_at(d, "rel_tolerance"),
            aggregate=_text_or(d, "aggregate", "each"), role=_text_or(d, "role", "quality"),
            against=_text_or(d, "against", "baseline"), expect=_text_or(d, "expect", "different"),
            alpha=0.05 if alpha is None else alpha, margin=0.01 if margin is None else margin,
            project=text_at(d, "project"), required_metrics=_texts(d.get("required_metrics")) or WANDB_METRICS)

    def text(self, key: str) -> str | None:
        """A field as given, when it is a string (one the checks do not read: `type`, `name` ...)."""
        return text_at(self.given, key)

    def to_json(self) -> JsonObject:
        return dict(self.given)

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        return cls.of(data)


def deliverables_of(value: object) -> tuple[Deliverable, ...]:
    """A list of deliverables as JSON holds it (a column, a job file's part), typed; what is not a
    JSON object is left out."""
    return tuple(Deliverable.of(d) for d in value if isinstance(d, dict)) if isinstance(value, list | tuple) else ()


@dataclass(frozen=True)
class CheckedDeliverable(JsonRecord):
    """A deliverable with the validator's verdict (the rating's `deliverables`): as declared, `ok`
    (None: the check could not say), the check's status word (passed, failed, not_applicable,
    not_checked) and the detail that explains it, quoting the numbers. Written as the declared
    JSON with the verdict's three fields after it."""

    deliverable: Deliverable
    ok: bool | None = None
    status: str | None = None
    detail: str = ""

    def to_json(self) -> JsonObject:
        out = self.deliverable.to_json()
        out.update({"ok": self.ok, "status": self.status, "detail": self.detail})
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Self:
        ok, status, detail = data.get("ok"), data.get("status"), data.get("detail")
        return cls(Deliverable.of({k: v for k, v in data.items() if k not in VERDICT}), ok if isinstance(ok, bool) else None,
                   status if isinstance(status, str) else None, str(detail or ""))


def _texts(value: JsonValue) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _text_or(d: Mapping[str, JsonValue], key: str, default: str) -> str:
    value = text_at(d, key)
    return default if value is None else value
