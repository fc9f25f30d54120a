"""The roadmap's criteria from a lab's experiments (science/roadmap_standing.py), and the steering that puts
the candidates serving the current phase's unmet criteria first (agents/steering.py)."""

from __future__ import annotations

from typing import Any

from agents.state import LabState
from agents.steering import serves, steer
from agents.topic import Topic
from db import Experiment
from science import roadmap_doc as doc
from science.roadmap_standing import Facts, Status, evaluate
from science.rubric import preliminary
from tests import rows as store_rows


def exp(i: int, catalog: str, rating: float | None, *, seeds: int = 5, profile: str = "default",
        headline: dict[str, Any] | None = None, status: str = "done", **extra: Any) -> Experiment:
    variants = {"base": {"n": seeds, "quality": {"mean": 0.9, "ci95": [0.88, 0.92]}, "energy_estimated": True}}
    breakdown = {"rating": rating, "variants": variants, **({"headline": headline} if headline else {})}
    return store_rows.experiment(**{
        "id": i, "catalog": catalog, "name": f"{catalog}-{i}", "status": status, "seeds": seeds,
        "params": {"profile": profile, "dataset": "digits"}, "rating": rating,
        "rating_breakdown": breakdown if rating is not None else None, "metadata": {}, "modifications": None,
        "parent_id": None, "created_at": 1000.0 + i, "finished_at": 2000.0 + i, **extra})


def kept(e: float, lo: float = 0.0) -> dict[str, Any]:
    return {"variant": "fast", "reference": "base", "quality_kept": True, "efficiency_score": e,
            "e_ci": [lo or e * 0.9, e * 1.1], "quality_delta": 0.0, "quality_delta_ci95": [-0.005, 0.005]}


def test_preliminary_runs_count_for_nothing() -> None:
    smoke = exp(1, "quantization", 9, profile="smoke")
    few = exp(2, "pruning", 9, seeds=3)
    assert preliminary(smoke) and preliminary(few) and not preliminary(exp(3, "pruning", 9))
    # the validator's own mark (issue 22) wins where it is given
    marked = exp(4, "pruning", 5, headline={"preliminary": True})
    assert preliminary(marked)
    s = evaluate([smoke, few])
    assert s.counted == () and not s.of("p3.publishable").met and s.current_phase == 1
    assert "Quantization: none (exp 1 preliminary)" in s.of("p1.areas").evidence


def test_each_phase_criterion_is_evaluated_with_its_evidence() -> None:
    exps = [exp(i + 1, name, 8.0, headline=kept(2.5)) for i, (name, _) in enumerate(doc.BASELINE_AREAS)]
    s = evaluate(exps, Facts(energy_counters=()))
    assert all(c.met for c in s.criteria if c.phase == 1), [c for c in s.criteria if c.phase == 1 and not c.met]
    assert s.of("p1.average").evidence == "average 8.0/10 over 8 counted experiment(s)"
    assert s.of("p2.three_top").met and s.of("p2.efficiency").met and "E = 2.50 (95 % CI 2.25..2.75)" in \
        s.of("p2.efficiency").evidence
    assert s.of("p2.error_bars").met
    # nothing reproduced yet: phase 2 is current and says how to meet it
    assert s.current_phase == 2 and not s.of("p2.reproduced").met and "`lab reproduce" in s.of("p2.reproduced").to_meet
    # energy modelled and no counters here: out of reach, said why, and not waited on
    energy = s.of("p3.energy")
    assert energy.status is Status.UNREACHABLE and "RAPL" in energy.to_meet
    # a reproduction within the original's intervals meets it
    child = exp(20, "quantization", 8.0, modifications={"kind": "reproduction", "of": 1, "original": {
        "variants": {"base": {"quality": {"mean": 0.9, "ci95": [0.88, 0.92]}}}}})
    s2 = evaluate([*exps, child])
    assert s2.of("p2.reproduced").met and s2.of("p2.reproduced").experiments == (20,)
    assert s2.current_phase == 3


def test_a_new_rated_experiment_changes_the_standing() -> None:
    before = evaluate([exp(1, "quantization", 7.0)])
    after = evaluate([exp(1, "quantization", 7.0), exp(2, "pruning", 7.0)])
    assert not before.of("p1.two_good").met and after.of("p1.two_good").met
    assert "2 of 8 areas" in after.of("p1.areas").evidence


def _state(exps: list[Experiment]) -> LabState:
    names = [n for n, _ in doc.BASELINE_AREAS] + ["lora_rank"]
    entries: dict[str, Any] = dict.fromkeys(names)
    return LabState(entries, entries, exps, set())


def test_the_roadmap_steers_the_candidates_and_names_the_criterion() -> None:
    done = [exp(1, "quantization", 6.0, headline=kept(1.2))]
    topics = [Topic("follow_up", "quantization", "more seeds", parent_id=1),
              Topic("sweep", "lora_rank", "never run"),
              Topic("sweep", "pruning", "never run")]
    ordered = steer(_state(done), topics)
    # phase 1: the never-run baseline area first, then the follow-up of a result below 7, then the rest
    assert [(t.catalog, t.criterion) for t in ordered] == [("pruning", "p1.areas"), ("quantization", "p1.two_good"),
                                                           ("lora_rank", "")]
    combo = Topic("combination", "compression_pipeline", "stack")
    assert serves(_state(done), combo, {"p3.combined"}) == "p3.combined"


def test_the_roadmap_lists_what_served_each_criterion_and_the_proposal_names_it() -> None:
    from agents.steering import served_text
    from records.roadmap_report import build, lines, to_json

    served = exp(2, "pruning", 7.5, metadata={"research": {"kind": "sweep", "criterion": "p1.areas"}})
    r = build([exp(1, "quantization", 6.0, profile="smoke"), served], [], Facts())
    data = to_json(r)
    areas = data["phases"][0]["criteria"][0]
    assert areas["id"] == "p1.areas" and areas["served_by"] == [
        {"experiment": 2, "catalog": "pruning", "status": "done", "rating": 7.5}]
    assert data["preliminary_experiments"] == [1] and data["counted_experiments"] == [2]
    assert "  served by: exp 2 (pruning, done, 7.5/10)" in lines(r)
    assert data["metrics"]["average_rating"]["mean"] == 7.5
    topic = Topic("sweep", "pruning", "never run", criterion="p1.areas")
    assert served_text(topic) == ("Roadmap: serves phase 1 criterion p1.areas (All 8 baseline experiments run "
                                  "successfully), unmet.")


def test_a_follow_up_serves_the_areas_only_when_it_would_count() -> None:
    smoke = exp(1, "pruning", 5.0, profile="smoke", seeds=2)
    state = _state([smoke])
    still_smoke = Topic("follow_up", "pruning", "more seeds", base_params={"profile": "smoke"}, seeds=5, parent_id=1)
    counts = Topic("follow_up", "pruning", "at default", base_params={"profile": "smoke"},
                   changes={"profile": "default"}, seeds=5, parent_id=1)
    assert serves(state, still_smoke, {"p1.areas"}) == "" and serves(state, counts, {"p1.areas"}) == "p1.areas"
