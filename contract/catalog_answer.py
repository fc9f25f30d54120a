"""The catalog's answer (`python -m experiments catalog --json`, docs/PROTOCOL.md §1): what every
technique declares, in one type for both sides. The experiment programs write it
(``write_catalog``, from each declaration's ``Experiment.entry()``); the lab reads it
(``read_catalog``, in science/catalog.py), never importing the programs. Its version is the run
protocol's (``contract.protocol.PROTOCOL``), carried as ``protocol``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .deliverable import Deliverable, deliverables_of
from .jsonvalue import JsonObject
from .params import Param, ParamValues
from .protocol import PROTOCOL


class CatalogFormatError(ValueError):
    """An answer that is not a catalog of this protocol."""


@dataclass(frozen=True)
class CatalogEntry:
    """One technique as the lab sees it: its declaration at the default parameters."""

    name: str
    title: str
    area: str
    gain_phase: str
    summary: str
    literature: str
    references: list[str]
    baseline: str
    metrics: dict[str, str]
    params: list[Param]
    deliverables: tuple[Deliverable, ...]  # as declared (PROTOCOL.md §1)
    headline: str | None = None          # the declared primary variant at the default parameters
    speedup_batch: int | None = None     # the batch at which speedup and inference energy are measured
    quality_margin: float | None = None  # declared "quality kept" margin (None: the lab's)
    quality_margin_basis: str = ""       # why the margin is what it is (with a margin)
    deliverables_variant: str | None = None  # where a submitted deliverable naming no variant is checked

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> ParamValues:
        return {p.name: p.default for p in self.params}


def _entry_json(e: CatalogEntry) -> JsonObject:
    out: JsonObject = {
        "name": e.name, "title": e.title, "area": e.area, "gain_phase": e.gain_phase, "summary": e.summary,
        "literature": e.literature, "references": list(e.references), "baseline": e.baseline,
        "metrics": dict(e.metrics), "params": [p.to_json() for p in e.params],
        "deliverables": [d.to_json() for d in e.deliverables], "headline": e.headline, "speedup_batch": e.speedup_batch}
    if e.quality_margin is not None:
        out.update({"quality_margin": e.quality_margin, "quality_margin_basis": e.quality_margin_basis})
    if e.deliverables_variant:
        out["deliverables_variant"] = e.deliverables_variant
    return out


def write_catalog(entries: Iterable[CatalogEntry]) -> JsonObject:
    """The answer's JSON value: the protocol and every entry, in the order given."""
    return {"protocol": PROTOCOL, "experiments": [_entry_json(e) for e in entries]}


def _str(raw: Mapping[str, object], key: str, default: str) -> str:
    value = raw.get(key, default)
    return value if isinstance(value, str) else default


def _param(raw: Any) -> Param:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise CatalogFormatError(f"a parameter is not an object with a name: {raw!r:.80}")
    try:
        return Param(raw["name"], raw.get("type", "str"), raw.get("default"), raw.get("help", ""), raw.get("min"),
                     raw.get("max"), tuple(raw["choices"]) if raw.get("choices") is not None else None)
    except (TypeError, ValueError) as exc:
        raise CatalogFormatError(f"parameter {raw['name']!r}: {exc}") from None


def _number(raw: Mapping[str, object], key: str) -> float | None:
    value = raw.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _entry(raw: Any) -> CatalogEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise CatalogFormatError(f"an entry is not an object with a name: {raw!r:.80}")
    name = raw["name"]
    batch, variant = raw.get("speedup_batch"), raw.get("deliverables_variant")
    return CatalogEntry(
        name=name, title=_str(raw, "title", name), area=_str(raw, "area", ""),
        gain_phase=_str(raw, "gain_phase", "training"), summary=_str(raw, "summary", ""),
        literature=_str(raw, "literature", ""), references=[str(r) for r in raw.get("references") or []],
        baseline=_str(raw, "baseline", ""), metrics={str(k): str(v) for k, v in (raw.get("metrics") or {}).items()},
        params=[_param(p) for p in raw.get("params") or []],
        deliverables=deliverables_of(raw.get("deliverables")),
        headline=raw.get("headline") if isinstance(raw.get("headline"), str) else None,
        speedup_batch=batch if isinstance(batch, int) and not isinstance(batch, bool) else None,
        quality_margin=_number(raw, "quality_margin"), quality_margin_basis=_str(raw, "quality_margin_basis", ""),
        deliverables_variant=variant if isinstance(variant, str) and variant else None)


def read_catalog(answer: Any) -> dict[str, CatalogEntry]:
    """The entries of an answer (its JSON value), by name in the answer's order; CatalogFormatError
    for anything else, or an answer of another protocol."""
    if not isinstance(answer, dict) or not isinstance(answer.get("experiments"), list):
        raise CatalogFormatError("the catalog's answer is not an object with a list of experiments")
    protocol = answer.get("protocol", PROTOCOL)
    if protocol != PROTOCOL:
        raise CatalogFormatError(f"the catalog speaks protocol {protocol!r}; this lab reads protocol {PROTOCOL}")
    entries = [_entry(raw) for raw in answer["experiments"]]
    return {e.name: e for e in entries}
