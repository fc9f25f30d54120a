"""What the lab-wide summary and the paper are written from: every experiment with its rating
breakdown, every run, the findings, the energy totals and the catalog."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from agents.catalog import Catalog, CatalogEntry, CatalogError
from agents.state import GENERATED


@dataclass
class LabData:
    experiments: list[dict[str, Any]]            # by id
    runs: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    energy: dict[str, Any]
    entries: dict[str, CatalogEntry]
    catalog_note: str = ""                       # why the catalog is missing, when it is

    def area(self, exp: dict[str, Any]) -> str:
        if exp["catalog"] == GENERATED:
            return "generated"
        entry = self.entries.get(exp["catalog"])
        return entry.area if entry is not None and entry.area else "unknown"

    def rated(self) -> list[dict[str, Any]]:
        return [e for e in self.experiments if e["rating"] is not None and e["rating_breakdown"]]

    def runs_of(self, exp_id: int) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["experiment_id"] == exp_id]

    def finding_of(self, exp_id: int, variant: str | None) -> str | None:
        return next((f["text"] for f in self.findings if f["experiment_id"] == exp_id and f["variant"] == variant), None)


async def load_lab(store: Any, catalog: Catalog) -> LabData:
    experiments = sorted(await store.list_experiments(), key=lambda e: e["id"])
    runs = await store.list_runs()
    found = await store.findings(limit=100_000)
    energy = await store.energy_totals()
    note = ""
    try:
        entries = await asyncio.to_thread(catalog.entries)
    except CatalogError as exc:
        entries, note = {}, f"the catalog could not be asked ({exc}); areas and literature are missing"
    return LabData(experiments, runs, found, energy, dict(entries), note)


def headline(exp: dict[str, Any]) -> dict[str, Any] | None:
    return (exp.get("rating_breakdown") or {}).get("headline")


def best_gains(lab: LabData, limit: int = 10) -> list[dict[str, Any]]:
    """Rated experiments whose headline keeps quality, by E (then speedup), best first."""
    rows = []
    for exp in lab.rated():
        h = headline(exp)
        if not h or not h.get("quality_kept") or not isinstance(h.get("efficiency_score"), (int, float)):
            continue
        rows.append(exp)
    rows.sort(key=lambda e: (-(headline(e) or {})["efficiency_score"], -((headline(e) or {}).get("speedup") or 0),
                             e["id"]))
    return rows[:limit]
