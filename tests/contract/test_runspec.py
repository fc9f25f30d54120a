"""The run spec (docs/PROTOCOL.md §3): one writer, one reader, and a clear line for a bad spec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract.protocol import PROTOCOL
from contract.runspec import Dependency, DeviceKind, RunSpec, SpecError


def _spec() -> RunSpec:
    return RunSpec(run_id=12, experiment_id=3, attempt=1, name="pruning", variant="magnitude-50", seed=1,
                   params={"profile": "smoke", "sparsities": [0.5]}, variant_params={"method": "magnitude"},
                   profile="smoke", device=DeviceKind.CPU, threads=2, output_dir="/lab/runs/12",
                   events_path="/lab/runs/12/events.jsonl", cache_dir="/cache", code_sha256="ab" * 32,
                   dependencies={"dense": Dependency(run_id=10, output_dir="/lab/runs/10",
                                                     result={"test_accuracy": 0.9})})


def test_a_spec_written_and_read_back_is_the_same_spec() -> None:
    spec = _spec()
    data = json.loads(json.dumps(spec.to_json()))
    assert data["protocol"] == PROTOCOL
    assert RunSpec.from_json(data) == spec and RunSpec.from_json(data).device is DeviceKind.CPU
    assert data["device"] == "cpu"
    local = RunSpec(run_id=None, name="logreg", variant="baseline", seed=0, params={}, variant_params=None,
                    profile="default", device=DeviceKind.CPU, threads=1, output_dir=".", events_path="events.jsonl",
                    cache_dir=None)
    assert RunSpec.from_json(json.loads(json.dumps(local.to_json()))) == local


def test_a_spec_recorded_before_the_type_still_reads() -> None:
    """Specs written by older labs and by tests lack experiment_id, attempt and code_sha256."""
    data = {k: v for k, v in _spec().to_json().items() if k not in ("experiment_id", "attempt", "code_sha256")}
    spec = RunSpec.from_json(data)
    assert spec.experiment_id is None and spec.attempt is None and spec.code_sha256 is None
    assert spec.dependencies["dense"].result == {"test_accuracy": 0.9}


@pytest.mark.parametrize("key", ["protocol", "run_id", "name", "variant", "seed", "params", "profile", "device",
                                 "threads", "output_dir", "events_path", "cache_dir", "dependencies"])
def test_a_missing_key_is_one_line_naming_it(key: str) -> None:
    data = _spec().to_json()
    del data[key]
    with pytest.raises(SpecError) as err:
        RunSpec.from_json(data)
    assert f"missing the key {key!r}" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("key", "value"), [("seed", "1"), ("seed", True), ("threads", 1.5), ("params", [1]),
                                            ("name", None), ("dependencies", []), ("device", "tpu"),
                                            ("device", 0)])
def test_a_bad_value_is_one_line_naming_its_key(key: str, value: Any) -> None:
    data = {**_spec().to_json(), key: value}
    with pytest.raises(SpecError) as err:
        RunSpec.from_json(data)
    assert repr(key) in str(err.value) and "\n" not in str(err.value)


def test_a_bad_dependency_a_wrong_protocol_and_a_non_object_are_refused() -> None:
    data = _spec().to_json()
    with pytest.raises(SpecError, match="'dense'"):
        RunSpec.from_json({**data, "dependencies": {"dense": 3}})
    with pytest.raises(SpecError, match=r"dependencies\.dense"):
        RunSpec.from_json({**data, "dependencies": {"dense": {"run_id": "ten"}}})
    with pytest.raises(SpecError, match="protocol"):
        RunSpec.from_json({**data, "protocol": PROTOCOL + 1})
    with pytest.raises(SpecError, match="JSON object"):
        RunSpec.from_json([data])
