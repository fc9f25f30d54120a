"""What an experiment declares to the lab (torch-free): parameters, plan, deliverables, metrics.

A technique declares its ``EXPERIMENT`` beside its program in ``experiments/techniques/<name>.py``;
the program imports torch only when a run starts, so that ``catalog`` and ``plan`` answer without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from contract.catalog_answer import CatalogEntry
from contract.deliverable import Deliverable
from contract.jsonvalue import JsonObject
from contract.limits import PROFILES
from contract.params import Param as Param  # the declaration's parameter, re-exported for the techniques
from contract.params import ParamError, validate

# parameter values by name, as `Experiment.validate` returns them (contract/params.py's typed
# `ParamValues`, re-exported for the techniques): each of its `Param`'s declared type, checked at
# run time by `Param.coerce`; a program reads them through experiments/paramread.py's readers
from contract.params import ParamValues as ParamValues

from . import paramread

DATASETS = ("digits", "synthetic", "mnist", "fashion_mnist", "cifar10")
DEVICES = ("cpu", "cuda")
GAIN_PHASES = ("training", "inference")
#: what a variant is meant to improve against its references (docs/PROTOCOL.md §2):
#: energy (lower energy at kept quality), latency (lower time at kept quality), memory (lower
#: peak or activation memory), size (smaller stored model), stability (fewer divergences across
#: the learning-rate grid, lower time to target), quality (higher quality at equal cost)
OBJECTIVES = ("energy", "latency", "memory", "size", "stability", "quality")
#: the metric role each objective is read from (``Experiment.metrics``); latency reads "time"
OBJECTIVE_ROLES = {"energy": "energy", "latency": "time", "memory": "memory", "size": "size",
                   "stability": "stability", "quality": "quality"}
#: the batch at which inference latency (speedup) and inference energy are both measured
INFERENCE_BATCH = 64


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


#: the non-inferiority margin of a perplexity ("quality kept"), relative to the reference's, and why
PERPLEXITY_MARGIN = 0.03
PERPLEXITY_MARGIN_BASIS = (
    "3 % relative: one-shot compression papers report 4-bit weights and 50 % sparsity on LLaMA-scale models "
    "at +1-5 % perplexity (GPTQ, Frantar et al. 2023: 5.68 -> 5.85 at 4 bits g128 on LLaMA-7B, +3 %; "
    "AWQ, Lin et al. 2024: +2 %; Wanda, Sun et al. 2024: 5.68 -> 7.26 at 50 %, +28 %, but +2-4 % at 2:4 "
    "on 65B); 3 % sits in the middle of the kept range, 10 % would call most published losses kept")


def grid_extensions_param(name: str = "lr_grid_extensions") -> Param:
    """How many log-spaced values beyond its edge a run tries while its choice on validation data
    sits on the edge of a grid (harness/grids.py); 0: the declared grid only."""
    return Param(name, "int", 2, "values tried beyond a grid's edge while the one chosen on validation data "
                 "is its smallest or largest (log-spaced; 0: none); a choice still on an edge is reported "
                 "in grid_edge and its comparison earns no effect points", min=0, max=5)


@dataclass(frozen=True)
class Variant:
    """One arm of the plan. ``references`` are the variants it is compared with, primary first;
    ``objective`` is what it is meant to improve against them (one of OBJECTIVES).

    ``reference`` is the older single-reference form and still works: ``reference="x"`` means
    ``references=("x",)``, and ``reference=<its own name>`` declares a reference point of its own
    (compared with nothing, like the baseline). A non-baseline variant that declares neither is
    compared with the baseline (``Experiment.plan`` fills that in)."""

    name: str
    params: ParamValues
    baseline: bool = False
    depends_on: tuple[str, ...] = ()
    reference: str | None = None
    references: tuple[str, ...] = ()
    objective: str | None = None
    #: free text: what comparison this is (e.g. "distillation effect", "compression vs teacher")
    role: str | None = None
    #: a reference compared on another objective than ``objective`` (a taught student is better
    #: than its untaught twin on quality, but smaller and faster than its teacher: size)
    reference_objectives: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        refs = tuple(r for r in self.references if r != self.name)
        if not refs and self.reference is not None and self.reference != self.name:
            refs = (self.reference,)
        object.__setattr__(self, "references", refs)
        if refs and self.reference is None:
            object.__setattr__(self, "reference", refs[0])
        assert self.objective is None or self.objective in OBJECTIVES, \
            f"{self.name}: objective {self.objective!r} is not one of {OBJECTIVES}"
        for ref, objective in self.reference_objectives.items():
            assert ref in refs and objective in OBJECTIVES, \
                f"{self.name}: objective {objective!r} against {ref!r} (references {refs}; objectives {OBJECTIVES})"

    @property
    def reference_point(self) -> bool:
        """The baseline, or a variant declared its own reference: compared with nothing."""
        return self.baseline or (not self.references and self.reference == self.name)

    def to_json(self) -> JsonObject:
        out: JsonObject = {"name": self.name, "baseline": self.baseline,
                               "depends_on": list(self.depends_on), "params": dict(self.params),
                               "references": list(self.references),
                               "objective": None if self.reference_point else self.objective,
                               "role": self.role}
        if self.references:
            out["reference"] = self.references[0]
        if self.reference_objectives:
            out["reference_objectives"] = dict(self.reference_objectives)
        elif self.reference_point and not self.baseline:
            out["reference"] = self.name  # older readers: "its own reference" = a reference point
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
    deliverables: tuple[JsonObject, ...]
    plan_fn: Callable[[ParamValues], list[Variant]]
    #: main result keys for the local try's table, beyond the ``metrics`` keys
    table_keys: tuple[str, ...] = ()
    #: torch-free check: returns a skip reason when the run cannot happen on its device
    skip_fn: Callable[[ParamValues, str], str | None] | None = None
    #: the declared primary variant (a name, or a function of the parameter values giving one);
    #: it must be a non-reference variant of the plan. None: no headline declared
    headline: Callable[[ParamValues], str | None] | str | None = None
    #: the batch at which both speedup (latency, throughput, time) and the compared energy are
    #: measured, the same for every variant: INFERENCE_BATCH for inference gains, the training
    #: batch for training gains (an int, or a function of the parameter values); None where the
    #: batch is what the experiment varies
    speedup_batch: Callable[[ParamValues], int] | int | None = None
    #: non-inferiority margin of the quality key ("quality kept"): points of an accuracy, or a
    #: fraction of the reference for an unbounded key (perplexity); None: the lab's (1 point, 1 %)
    quality_margin: float | None = None
    #: why the margin is what it is (the literature it is judged against); required with a margin
    quality_margin_basis: str = ""
    #: the variant a submitted deliverable that names none is checked on (None: every run), e.g.
    #: the fine-tuned model rather than the base model it is compared with
    deliverables_variant: str | None = None
    #: why the headline variant's model has no form in the model zoo (`lab publish`); "" when its
    #: runs keep it (the harness keeps the headline variant's model: `RunContext.keep_for_zoo`)
    no_zoo_model: str = ""
    extra: dict[str, object] = field(default_factory=dict)  # the technique's own constants, for its readers

    def validate(self, given: Mapping[str, object]) -> ParamValues:
        """Return every parameter with defaults filled in; raise ParamErrors as a list."""
        values, errors = validate(list(self.params), given)
        if errors:
            raise ParamListError(errors)
        return values

    def plan(self, values: ParamValues) -> list[Variant]:
        variants = self.plan_fn(values)
        base = next((v.name for v in variants if v.baseline), None)
        # a variant that declares no reference is compared with the baseline (PROTOCOL.md §2)
        variants = [v if v.baseline or v.references or v.reference == v.name or base is None
                    else replace(v, references=(base,), reference=None) for v in variants]
        _check_plan(self.name, variants)
        return variants

    def headline_for(self, values: ParamValues, variants: list[Variant] | None = None) -> str | None:
        """The declared headline variant for ``values`` (None when the entry declares none)."""
        if self.headline is None:
            return None
        name = self.headline(values) if callable(self.headline) else self.headline
        if name is None:  # a plan with nothing to compare (e.g. one LoRA rank alone) has no headline
            return None
        plan = {v.name: v for v in (variants if variants is not None else self.plan(values))}
        assert name in plan and not plan[name].reference_point, \
            f"{self.name}: headline {name!r} is not a compared variant of the plan"
        return name

    def speedup_batch_for(self, values: ParamValues) -> int | None:
        batch = self.speedup_batch
        return int(batch(values)) if callable(batch) else batch

    def plan_json(self, values: ParamValues) -> JsonObject:
        """The plan as PROTOCOL.md §2 gives it: variants, the headline and the speedup batch."""
        variants = self.plan(values)
        return {"variants": [v.to_json() for v in variants],
                "headline": self.headline_for(values, variants),
                "speedup_batch": self.speedup_batch_for(values)}

    @property
    def baseline(self) -> str:
        defaults = self.validate({})
        return next(v.name for v in self.plan(defaults) if v.baseline)

    def entry(self) -> CatalogEntry:
        """The declaration as the catalog answers it (contract/catalog_answer.py: the lab reads the same type)."""
        defaults = self.validate({})
        return CatalogEntry(
            name=self.name, title=self.title, area=self.area, gain_phase=self.gain_phase, summary=self.summary,
            literature=self.literature, references=list(self.references), baseline=self.baseline,
            metrics=dict(self.metrics), params=[_declared(p) for p in self.params],
            deliverables=tuple(map(Deliverable.of, self.deliverables)),
            headline=self.headline_for(defaults), speedup_batch=self.speedup_batch_for(defaults),
            quality_margin=self.quality_margin,
            quality_margin_basis=self.quality_margin_basis if self.quality_margin is not None else "",
            deliverables_variant=self.deliverables_variant)


def _declared(p: Param) -> Param:
    """A parameter as the catalog gives it: its declared fields, without a program's own checks
    (a subclass's ``coerce`` that reads files runs in the programs, not in the lab)."""
    return Param(p.name, p.type, p.default, p.help, p.min, p.max, p.choices)


class ParamListError(Exception):
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
        for ref in v.references:
            assert ref in names, f"{name}: {v.name} is compared with {ref}, which is not in the plan"
        seen.add(v.name)


def training_batch(values: ParamValues) -> int:
    """``speedup_batch`` of a training-gain entry: its training minibatch size."""
    return paramread.integer(values, "batch_size")


def keys_deliverable(*keys: str, variant: str | None = None) -> JsonObject:
    out: JsonObject = {"kind": "contains_keys", "keys": list(keys)}
    if variant is not None:
        out["variant"] = variant
    return out


def threshold(key: str, op: str, value: float, variant: str | None = None) -> JsonObject:
    out: JsonObject = {"kind": "threshold", "key": key, "op": op, "value": value}
    if variant is not None:
        out["variant"] = variant
    return out


#: result keys every trained run reports (the harness's standard measurements)
STANDARD_KEYS = (
    "test_accuracy", "test_loss", "val_accuracy", "best_val_accuracy", "train_time_s",
    "train_steps", "latency_b1_ms", "latency_b64_ms", "throughput_samples_per_s",
    "params_total", "params_nonzero", "model_size_bytes", "flops_per_forward", "peak_mem_bytes",
    "energy_train_kwh", "energy_inference_kwh", "energy_kwh", "co2_kg", "energy_mode",
    "energy_source", "seed", "device", "versions", "diverged", "budget_steps", "cpu_flags",
)
