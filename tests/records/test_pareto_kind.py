"""The Pareto front follows the quality's kind: lower perplexity is better, higher accuracy is."""

from __future__ import annotations

from contract.rating_record import VariantResult
from records.reports.pareto import fronts

VARIANTS = {name: VariantResult.from_json(v) for name, v in {
    "base": {"quality": {"mean": 40.0}, "size": {"mean": 100.0}},
    "small": {"quality": {"mean": 42.0}, "size": {"mean": 25.0}},
    "worse": {"quality": {"mean": 45.0}, "size": {"mean": 50.0}}}.items()}


def test_a_perplexity_front_keeps_the_lower_perplexity() -> None:
    # lower is better: "worse" costs more than "small" and is worse than it: dominated
    assert fronts(VARIANTS, "test_perplexity")["size"] == ["small", "base"]
    # read as an accuracy (higher is better), the same numbers make "worse" the best of the middle
    assert fronts(VARIANTS, "test_accuracy")["size"] == ["small", "worse"]
