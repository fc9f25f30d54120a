"""The experiment's JSON columns as typed values (contract/deliverable.py, contract/modifications.py,
contract/experiment_metadata.py, the rating's checks and follow-ups): each decodes once and writes
back the JSON it was given, byte for byte, whatever wrote it."""

from __future__ import annotations

import json

import pytest

from contract.child_kinds import CommandKind, FollowUpKind, JobKind, TopicKind, UnknownKind
from contract.deliverable import CheckedDeliverable, Deliverable, deliverables_of
from contract.experiment_metadata import ExperimentMetadata, metadata_of
from contract.jsonvalue import JsonObject
from contract.modifications import Modifications, modifications_of
from contract.rating_record import Breakdown, ProposedFollowUp
from db.rows import Experiment, to_json

FOLLOW_UP = {"kind": "more_seeds", "params": {"sparsities": [0.5, 0.7]}, "rationale": "too wide",
             "evidence": ["experiment 3: CI too wide"], "seeds": {"from": 3, "to": 6}}
GENEALOGY = {"kind": "genealogy", "parent_experiment": "exp_baseline_001", "params": {"lr": 0.0005},
             "changes": [{"parameter": "lr", "from": 0.001, "to": 0.0005}], "rationale": "halve it",
             "seeds": {"from": 2, "to": 2}}
REPRODUCTION = {"kind": "reproduction", "of": 4, "params": {}, "seeds": {"from": 5, "to": 5}, "rationale": "re-run",
                "record": {"tag": "exp-4", "sha": "abc", "folder": "experiments/4"},
                "original": {"keys": {"quality": "test_accuracy"},
                             "variants": {"dense": {"quality": {"n": 5, "mean": 0.95, "ci95": [0.94, 0.96]}}}}}
OLD_RULE = {"kind": "narrow_range", "params": {"lr": [0.1, 0.2]}, "rule": "narrow_range"}  # a kind this lab no longer knows
METADATA = {"priority": "high", "owner": "pipeline",
            "job": {"format": "published", "experiment_id": "x-1", "description": "d",
                    "analysis_pipeline": [{"step": "significance_tests", "alpha": 0.05}]},
            "research": {"sprint_id": 3, "autonomy": 1, "kind": "sweep", "rationale": "r", "evidence": ["e"],
                         "backend": "offline", "criterion": "p1.areas",
                         "estimate": {"runs": 4, "run_s": None, "wall_s": 1.5, "kwh": 2, "basis": "b"}, "success": ["s"]},
            "generated": {"path": "p.py", "sha256": "ab", "source": "print(1)", "model": "m", "explanation": "x",
                          "metrics": {"quality": "q"}, "gain_phase": "training", "baseline": "b", "sandbox": "bubblewrap"},
            "model_alias": {"name": "tiny", "path": "/models/tiny"}, "reproduction": {"of": 2, "tag": "t", "sha": "s"},
            "spec": {"module": "experiments", "command": "python -m experiments pruning --spec spec.json",
                     "catalog": "pruning", "params": {"sparsities": [0.5, 0.7], "profile": "smoke"}, "seeds": 2,
                     "plan": [{"name": "dense", "baseline": True, "depends_on": [], "params": {}, "objective": None,
                               "role": None}],
                     "runs": [{"variant": "dense", "seed": 0, "depends_on": [], "variant_params": {"sparsity": 0.5}}],
                     "sha256": "ab12"}}


@pytest.mark.parametrize("given", [FOLLOW_UP, GENEALOGY, REPRODUCTION, OLD_RULE, {"edited": {"lr": 0.1}}, {}])
def test_modifications_write_back_what_they_read(given: JsonObject) -> None:
    mods = modifications_of(given)
    assert to_json(mods) == to_json(given)
    assert isinstance(mods, Modifications) and mods.kind == given.get("kind")


@pytest.mark.parametrize(("given", "kind"), [(FOLLOW_UP, FollowUpKind.MORE_SEEDS), (GENEALOGY, JobKind.GENEALOGY),
                                             (REPRODUCTION, CommandKind.REPRODUCTION), ({"kind": "sweep"}, TopicKind.SWEEP),
                                             (OLD_RULE, UnknownKind("narrow_range")), ({"kind": 3}, None), ({}, None)])
def test_a_modifications_kind_is_typed_and_an_unknown_one_kept_as_written(given: JsonObject, kind: object) -> None:
    mods = modifications_of(given)
    assert mods.kind == kind and type(mods.kind) is type(kind)
    assert to_json(modifications_of(json.loads(to_json(mods)))) == to_json(mods)


def test_modifications_are_read_by_attribute() -> None:
    genealogy, repro = modifications_of(GENEALOGY), modifications_of(REPRODUCTION)
    assert genealogy.changes is not None and genealogy.changes[0].before == 0.001
    assert genealogy.parent_experiment == "exp_baseline_001"
    assert modifications_of(FOLLOW_UP).changed == {"sparsities": [0.5, 0.7]}  # a list of floats stays one
    assert repro.original is not None and repro.original.variants["dense"]["quality"].ci95 == (0.94, 0.96)
    assert repro.record is not None and repro.record.tag == "exp-4" and modifications_of("junk") == Modifications()


@pytest.mark.parametrize("given", [METADATA, {"by": "test"}, {"research": "a note of the file's own", "generated": 5}, {}])
def test_metadata_writes_back_what_it_read(given: JsonObject) -> None:
    meta = metadata_of(given)
    assert to_json(meta) == to_json(given)


def test_metadata_parts_are_typed_and_a_job_files_own_keys_kept() -> None:
    meta = metadata_of(METADATA)
    assert meta.research is not None and meta.research.criterion == "p1.areas"
    assert meta.research.estimate is not None and meta.research.estimate.wall_s == 1.5
    assert meta.generated is not None and meta.generated.sandbox == "bubblewrap"
    assert meta.model_alias is not None and meta.model_alias.path == "/models/tiny"
    assert meta.spec is not None and meta.spec.params["sparsities"] == [0.5, 0.7] and meta.spec.runs[0].variant == "dense"
    assert meta.given == {"priority": "high", "owner": "pipeline"} and metadata_of(None) == ExperimentMetadata()


def test_deliverables_and_their_checks_write_back_what_they_read() -> None:
    given = [{"kind": "threshold", "key": "test_accuracy", "op": ">=", "value": 0.9, "type": "metric", "variant": "dense"},
             {"kind": "contains_keys", "keys": ["a"]}]
    typed = deliverables_of(given)
    assert [d.to_json() for d in typed] == given and typed[0].value == 0.9 and typed[1].keys == ("a",)
    assert Deliverable.of({"kind": "threshold", "metric": "acc", "operator": ">"}).given == {"kind": "threshold", "key": "acc",
                                                                                          "op": ">"}
    checked = {**given[0], "ok": False, "status": "failed", "detail": "mean 0.8 < 0.9"}
    check = CheckedDeliverable.from_json(checked)
    assert check.to_json() == checked and list(check.to_json()) == list(checked) and check.deliverable.key == "test_accuracy"


def test_the_ratings_checks_and_follow_ups_write_back_what_they_read() -> None:
    follow_up = {"kind": "extend_range", "changes": {"sparsities": [0.8, 0.9]}, "seeds": 5, "rationale": "edge",
                 "experiment_id": 9, "approved": False, "decision": "autonomy 1"}
    record = {"deliverables": [{"kind": "exists", "path": "m.pt", "ok": True, "status": "passed", "detail": "2 file(s)"}],
              "follow_ups": [follow_up]}
    b = Breakdown.from_json(record)
    assert b.follow_ups == (ProposedFollowUp.from_json(follow_up),) and b.follow_ups[0].changes == {"sparsities": [0.8, 0.9]}
    assert {k: b.to_json()[k] for k in record} == record


def test_the_store_decodes_each_column_once() -> None:
    exp = Experiment.of({"id": 1, "name": "n", "catalog": "c", "status": "done", "params": {}, "plan": [],
                         "deliverables": [{"kind": "exists", "path": "x"}, "not an object"], "metadata": METADATA,
                         "modifications": GENEALOGY})
    assert exp.deliverables == (Deliverable.of({"kind": "exists", "path": "x"}),)
    assert exp.metadata == metadata_of(METADATA) and exp.modifications == modifications_of(GENEALOGY)
    assert json.loads(to_json(exp.metadata)) == METADATA


BASELINE_DATA = {"quality": {"mean": 0.95, "std": 0.01, "ci95": [0.94, 0.96]},
                 "energy": {"mean": 2e-6, "std": None, "ci95": None}, "n": 3}
COMPARISON_DATA = {"efficiency_score": 2.4, "efficiency_score_ci95": [1.9, 3.1], "speedup": 2, "speedup_ci95": None,
                   "compression": 3.9, "quality_delta": -0.002, "quality_delta_ci95": [-0.011, 0.007],
                   "cost_p_value": 0.04, "n": 3, "params": {"sparsity": 0.5}, "reference": "dense",
                   "objective": "energy", "effect": 0.6, "effect_ci95": [0.5, 0.7], "control_valid": True,
                   "paired": None}


@pytest.mark.parametrize(("kind", "given", "typed"), [
    ("baseline", BASELINE_DATA, "BaselineData"), ("effect", COMPARISON_DATA, "ComparisonData"),
    ("void", COMPARISON_DATA, "ComparisonData"), ("skipped", {"reason": "its parent failed"}, "SkippedData"),
    ("failed", {"runs": [3, 4], "error": "exit 1"}, "FailedData"),
    ("a_kind_of_later", {"x": 1}, "KeptData"),  # an unknown kind: kept as written
    ("effect", {"speedup": 2.0, "n": 3}, "KeptData"),  # an older writer's shape: kept as written
    ("baseline", {}, "KeptData"),
])
def test_a_findings_data_is_typed_by_its_kind_and_written_back_as_read(kind: str, given: JsonObject, typed: str) -> None:
    from db.rows import StoredFinding

    found = StoredFinding.of({"id": 1, "experiment_id": 2, "catalog": "pruning", "variant": "v", "kind": kind,
                              "text": "t", "data": json.loads(json.dumps(given)), "created_at": 1.0})
    assert type(found.data).__name__ == typed
    assert json.dumps(found.to_dict()["data"], sort_keys=True) == json.dumps(given, sort_keys=True)


def test_a_modifications_rule_is_a_follow_up_kind_and_an_unknown_one_kept_as_written() -> None:
    stacked = modifications_of({"kind": "combination", "rule": "stack", "from_experiment": 3})
    assert stacked.rule is FollowUpKind.STACK and stacked.kind is TopicKind.COMBINATION
    old = modifications_of(OLD_RULE)
    assert old.rule == UnknownKind("narrow_range") and type(old.rule) is UnknownKind
    assert to_json(old) == to_json(OLD_RULE) and modifications_of({"rule": 5}).rule is None
