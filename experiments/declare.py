"""What an experiment declares to the lab (torch-free): parameters, plan, deliverables, metrics.

The training code lives in ``experiments.programs.<name>`` and is imported only when a run
starts, so that ``catalog`` and ``plan`` answer without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .params import Param, ParamError, validate

DATASETS = ("digits", "synthetic", "mnist", "fashion_mnist", "cifar10")
PROFILES = ("smoke", "default", "full")
DEVICES = ("cpu", "cuda")
GAIN_PHASES = ("training", "inference")


def common_params(target: float = 0.9) -> list[Param]:
    """Parameters every experiment has (PROTOCOL.md §1) plus the shared budget knobs."""
    return [
        Param("profile", "choice", "default",
              "run length: smoke (seconds, tests), default (effects stand out from seed noise), full (longer)",
              choices=PROFILES),
        Param("dataset", "choice", "digits",
              "digits (sklearn, offline), synthetic (tests), or mnist/fashion_mnist/cifar10 from the cache",
              choices=DATASETS),
        Param("device", "choice", "cpu", "cpu or cuda (the spec's device wins when the lab assigns one)",
              choices=DEVICES),
        Param("epochs", "int", 0, "training epochs; 0 = the profile's budget for this experiment",
              min=0, max=1000),
        Param("target_val_accuracy", "float", target,
              "validation accuracy whose first crossing gives time_to_target_s and steps_to_target",
              min=0.0, max=1.0),
    ]


@dataclass(frozen=True)
class Variant:
    name: str
    params: dict[str, Any]
    baseline: bool = False
    depends_on: tuple[str, ...] = ()
    #: the variant this one is compared with (its control); None: the baseline; its own name:
    #: a reference point of its own (e.g. the FP32 transformer beside the FP32 MLP baseline)
    reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "baseline": self.baseline,
               "depends_on": list(self.depends_on), "params": dict(self.params)}
        if self.reference is not None:
            out["reference"] = self.reference
        return out


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    area: str
    gain_phase: str
    summary: str
    literature: str
    references: tuple[str, ...]
    metrics: dict[str, str]
    params: tuple[Param, ...]
    deliverables: tuple[dict[str, Any], ...]
    plan_fn: Callable[[dict[str, Any]], list[Variant]]
    #: main result keys for the local try's table, beyond the ``metrics`` keys
    table_keys: tuple[str, ...] = ()
    #: torch-free check: returns a skip reason when the run cannot happen on its device
    skip_fn: Callable[[dict[str, Any], str], str | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def program(self) -> str:
        return f"experiments.programs.{self.name}"

    def validate(self, given: dict[str, Any]) -> dict[str, Any]:
        """Return every parameter with defaults filled in; raise ParamErrors as a list."""
        values, errors = validate(list(self.params), given)
        if errors:
            raise ParamErrorList(errors)
        return values

    def plan(self, values: dict[str, Any]) -> list[Variant]:
        variants = self.plan_fn(values)
        _check_plan(self.name, variants)
        return variants

    @property
    def baseline(self) -> str:
        defaults = self.validate({})
        return next(v.name for v in self.plan(defaults) if v.baseline)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "area": self.area,
            "gain_phase": self.gain_phase, "summary": self.summary,
            "literature": self.literature, "references": list(self.references),
            "baseline": self.baseline, "metrics": dict(self.metrics),
            "params": [p.to_json() for p in self.params],
            "deliverables": [dict(d) for d in self.deliverables],
        }


class ParamErrorList(Exception):
    def __init__(self, errors: list[ParamError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def _check_plan(name: str, variants: list[Variant]) -> None:
    """Plans are DAGs with unique names and exactly one baseline; a bug here is ours, not the user's."""
    names = [v.name for v in variants]
    assert len(set(names)) == len(names), f"{name}: duplicate variant names {names}"
    assert sum(v.baseline for v in variants) == 1, f"{name}: plan needs exactly one baseline"
    seen: set[str] = set()
    for v in variants:
        for dep in v.depends_on:
            assert dep in seen, f"{name}: {v.name} depends on {dep}, which does not come before it"
        seen.add(v.name)


def keys_deliverable(*keys: str) -> dict[str, Any]:
    return {"kind": "contains_keys", "keys": list(keys)}


def threshold(key: str, op: str, value: float, variant: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "threshold", "key": key, "op": op, "value": value}
    if variant is not None:
        out["variant"] = variant
    return out


#: result keys every trained run reports (the harness's standard measurements)
STANDARD_KEYS = (
    "test_accuracy", "test_loss", "val_accuracy", "best_val_accuracy", "train_time_s",
    "train_steps", "latency_b1_ms", "latency_b64_ms", "throughput_samples_per_s",
    "params_total", "params_nonzero", "model_size_bytes", "flops_per_forward", "peak_mem_bytes",
    "energy_train_kwh", "energy_inference_kwh", "energy_kwh", "co2_kg", "energy_mode",
    "energy_source", "seed", "device", "versions",
)
