"""The report's variance between independently pre-trained base models (issue 22 item 6): per
variant and per comparison, each base's mean (or change), and the standard deviation between
bases and within one, as the validator computed them (contract/comparison.BetweenBases)."""

from __future__ import annotations

from typing import Any

from contract import quantities, units
from records.reports import markdown
from records.reports.experiment_data import ExperimentData


def _spread(key: str, variance: Any) -> str:
    """A variance said as its standard deviation in the key's own words ('±0.41 ppl')."""
    if not isinstance(variance, (int, float)) or variance < 0:
        return units.MISSING
    return "±" + units.change(variance ** 0.5, quantities.kind_of(key)).lstrip("+")


def bases_section(d: ExperimentData, qk: str) -> list[str]:
    """The variance between independently pre-trained base models (issue 22 item 6), per variant
    and per comparison, as the validator computed it; nothing when the seeds used one base."""
    rows = []
    for name, v in d.variants.items():
        own = v.between_bases
        if not own:
            continue
        rows.append([name, units.MISSING, ", ".join(f"{b}: {units.result_value(qk, m)}" for b, m in own.per_base.items()),
                     _spread(qk, own.between_var), _spread(qk, own.within_var)])
        for ref, c in (v.comparisons or {}).items():
            cb = c.between_bases
            if cb:
                rows.append([name, ref, ", ".join(f"{b}: {units.change(m, quantities.kind_of(qk))}"
                                                  for b, m in cb.per_base.items()),
                             _spread(qk, cb.between_var), _spread(qk, cb.within_var)])
    if not rows:
        return []
    bases = next(v.between_bases.bases for v in d.variants.values() if v.between_bases)
    return [f"Base models: the seeds fine-tuned {bases} independently pre-trained bases (seed s: base s mod "
            f"{bases}). {qk} and its changes are replicated by base: their intervals above are over the bases' "
            f"means, so they cover the variation between bases, not only between fine-tuning seeds. Per base, and "
            f"the standard deviation between bases and within one (one-way random effects):", "",
            markdown.table(["variant", "Δ against", f"{qk} (or Δ) per base", "between bases", "within a base"], rows), ""]
