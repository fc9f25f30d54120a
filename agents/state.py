"""The picture of the lab the agents reason from: the catalog they may use and every experiment."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from agents.research_settings import ResearchSettings, SettingsError
from contract.catalog_answer import CatalogEntry
from contract.params import Param, ParamValues
from db import Experiment, Store
from science.catalog import Catalog

GENERATED = "generated"  # the catalog name of experiments whose code the coder wrote


@dataclass
class LabState:
    entries: dict[str, CatalogEntry]      # the entries the researcher may study, in catalog order
    all_entries: dict[str, CatalogEntry]  # the whole catalog
    experiments: list[Experiment]     # oldest first
    in_sprint: set[int]                   # experiments some open or finished sprint owns

    def by_catalog(self, name: str) -> list[Experiment]:
        return [e for e in self.experiments if e.catalog == name]

    def get(self, exp_id: int | None) -> Experiment | None:
        return next((e for e in self.experiments if e.id == exp_id), None)

    def children(self, exp_id: int) -> list[Experiment]:
        return [e for e in self.experiments if e.parent_id == exp_id]

    def depth(self, exp_id: int) -> int:
        """Generations above this experiment (0 for the first of a line)."""
        depth, exp = 0, self.get(exp_id)
        while exp is not None and exp.parent_id is not None and depth < 1000:
            depth += 1
            exp = self.get(exp.parent_id)
        return depth

    def exists(self, catalog: str, params: ParamValues, seeds: int) -> Experiment | None:
        """An experiment (of any state) with exactly these parameters and seeds."""
        key = json.dumps(params, sort_keys=True)
        return next((e for e in self.experiments if e.catalog == catalog and e.seeds == seeds
                     and json.dumps(e.params, sort_keys=True) == key), None)


def declared_lists(entry: CatalogEntry) -> dict[str, Param]:
    """The entry's parameters as the follow-up rules need them, by name."""
    return {p.name: p for p in entry.params}


async def load_state(store: Store, catalog: Catalog, settings: ResearchSettings) -> LabState:
    entries = await asyncio.to_thread(catalog.entries)
    unknown = [n for n in settings.catalog if n not in entries]
    if unknown:
        raise SettingsError(f"research.catalog names {', '.join(unknown)}, which the catalog does not have "
                            f"(it has: {', '.join(entries)})")
    allowed = {n: e for n, e in entries.items() if not settings.catalog or n in settings.catalog}
    experiments = sorted(await store.list_experiments(), key=lambda e: e.id)
    sprints = await store.list_sprints(limit=100000)
    return LabState(allowed, dict(entries), experiments,
                    {s.experiment_id for s in sprints if s.experiment_id is not None})
