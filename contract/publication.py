"""What `lab publish` last wrote, when and where (the lab's published.json): the record the
publication bundle writes (records/publish/bundle.py), the roadmap's phase-4 criteria read
(science/roadmap_standing.py) and the tracker shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from contract import units
from contract.record_json import JsonRecord


@dataclass(frozen=True)
class Pushed(JsonRecord):
    """Where `lab publish --push ORG` pushed the zoo's models."""

    org: str = ""
    repos: tuple[str, ...] = ()


@dataclass(frozen=True)
class Published(JsonRecord):
    """One publication: its bundle's folder, the parts made (part -> path relative to it), the
    counted experiments and headline findings used, the zoo's folders, the parts not made."""

    when: str = units.MISSING
    out: str = units.MISSING
    files: dict[str, str] = field(default_factory=dict)
    experiments: tuple[int, ...] = ()
    findings: tuple[int, ...] = ()
    models: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    pushed: Pushed | None = None
    seconds: float = 0.0
