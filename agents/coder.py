"""The coder: records exactly what will run (the spec), and, with a language model and
`[llm] allow_generated_code = true`, writes new experiment code that runs only in the sandbox
(agents/sandbox.py) and is kept with the experiment."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from agents import sandbox_isolation
from agents.dialogue import Dialogue
from agents.research_settings import ResearchSettings
from agents.state import GENERATED, LabState
from agents.topic import Topic
from contract import units
from contract.deliverable import Deliverable
from contract.experiment_metadata import ExperimentMetadata, ExperimentSpec, ProgramRecord, SpecRun
from contract.jsonvalue import JsonObject, json_object, text_at
from contract.modifications import Modifications
from contract.params import ParamValues
from contract.plan import PlanStep
from db import Experiment, MessageKind, NewExperiment, NotFoundError, Store
from db.plans import PlanError, expand, topological
from science import text as t

SANDBOX_MODULE = "agents.sandbox"

PROTOCOL = """Write one self-contained Python 3.11 program. It is started as
`python program.py --spec spec.json` in its run directory, inside a sandbox: no network, no
secrets, a read-only system, a small private /tmp. spec.json holds: run_id, variant (one of your
variants), seed, params (the experiment's parameters), variant_params (your variant's params),
profile, device ("cpu"), threads, output_dir (write files only there), events_path. Append one
JSON object per line to events_path, flushing each line: {"type": "progress", "done": n,
"total": m, "t": unix time} while working, and last {"type": "result", "values": {...}, "t": ...}
with the result keys test_accuracy (fraction), train_time_s, energy_kwh, energy_train_kwh,
energy_inference_kwh, energy_mode ("estimated"), model_size_bytes, latency_b1_ms, seed and
versions (an object of library versions). Exit 0. Use only the standard library, numpy,
scikit-learn and torch; seed everything from the seed; estimate energy from process CPU time at
15 W per core (kWh = cpu_s * 15 / 3.6e6)."""

GENERATED_SCHEMA: JsonObject = {
    "type": "object", "required": ["source", "variants", "metrics", "gain_phase", "explanation"],
    "properties": {
        "source": {"type": "string", "minLength": 40, "maxLength": 60000},
        "variants": {"type": "array", "minItems": 2, "maxItems": 8, "items": {
            "type": "object", "required": ["name", "baseline"],
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 40},
                           "baseline": {"type": "boolean"},
                           "depends_on": {"type": "array", "items": {"type": "string"}},
                           "params": {"type": "object"}}}},
        "metrics": {"type": "object", "required": ["quality", "energy", "time", "size"],
                    "properties": {k: {"type": "string", "minLength": 1} for k in ("quality", "energy", "time", "size")}},
        "gain_phase": {"type": "string", "enum": ["training", "inference"]},
        "explanation": {"type": "string", "maxLength": 800},
    },
}


@dataclass(frozen=True)
class GeneratedVariant:
    name: str
    baseline: bool
    depends_on: list[str]
    params: JsonObject    # the variant's settings, as the generated program reads them

    def plan_entry(self) -> PlanStep:
        """The variant as a step of the plan, its settings as the model gave them."""
        return PlanStep.from_json({"name": self.name, "baseline": self.baseline, "depends_on": list(self.depends_on),
                                   "params": dict(self.params)})


@dataclass(frozen=True)
class GeneratedProgram:
    """The model's program (GENERATED_SCHEMA): its source, variants, metric keys, the phase its
    gain is in, and its explanation."""

    source: str
    variants: list[GeneratedVariant]
    metrics: dict[str, str]    # quality, energy, time, size -> the result key
    gain_phase: str
    explanation: str

    @classmethod
    def of(cls, answer: JsonObject) -> GeneratedProgram:
        variants = []
        given = answer.get("variants")
        for raw in given if isinstance(given, list) else []:
            v = json_object(raw) or {}
            deps = v.get("depends_on")
            variants.append(GeneratedVariant(str(v.get("name")), v.get("baseline") is True,
                                             [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else [],
                                             json_object(v.get("params")) or {}))
        metrics = json_object(answer.get("metrics")) or {}
        return cls(text_at(answer, "source") or "", variants,
                   {k: m for k, m in metrics.items() if isinstance(m, str)},
                   text_at(answer, "gain_phase") or "training", text_at(answer, "explanation") or "")


def spec_of(exp: Experiment | NewExperiment, module: str) -> ExperimentSpec:
    """What the engine will run for this experiment, exactly; with the sha256 of it."""
    catalog, params, plan, seeds = exp.catalog, exp.params, exp.plan, exp.seeds
    runner = SANDBOX_MODULE if catalog == GENERATED else module
    runs = tuple(SpecRun(r.variant, r.seed, tuple(r.depends_on), r.variant_params) for r in expand(plan, seeds))
    # a generated program's parameters hold one object, its program's path and sha256 (`_experiment`)
    generated = {k: cast(dict[str, str], params["generated"])[k] for k in ("path", "sha256")} \
        if catalog == GENERATED else None
    spec = ExperimentSpec(runner, f"python -m {runner} {catalog} --spec spec.json", catalog, params, seeds, plan, runs,
                          generated)
    return replace(spec, sha256=hashlib.sha256(json.dumps(spec.to_json(), sort_keys=True).encode()).hexdigest())


def _generated_modifications(topic: Topic, sha: str) -> Modifications:
    return replace(topic.modifications(None) or Modifications(), generated=sha)


class Coder:
    def __init__(self, store: Store, dialogue: Dialogue, settings: ResearchSettings, module: str,
                 lab_root: Path) -> None:
        self.store = store
        self.dialogue = dialogue
        self.settings = settings
        self.module = module
        self.lab_root = Path(lab_root)

    async def record_spec(self, exp_id: int, *, edited: bool = False) -> ExperimentSpec:
        exp = await self.store.get_experiment(exp_id)
        if exp is None:
            raise NotFoundError(f"no experiment with id {exp_id} (see `lab status`)")
        spec = spec_of(exp, self.module)
        await self.store.update_experiment(exp_id, metadata=replace(exp.metadata, spec=spec))
        deps = sorted({f"{r.variant} <- {'+'.join(r.depends_on)}" for r in spec.runs if r.depends_on})
        params = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(spec.params.items()) if k != "generated")
        text = (f"Spec for experiment {exp_id}{' (parameters edited by a person)' if edited else ''}, "
                f"sha256 {(spec.sha256 or '')[:12]}: {len(spec.runs)} runs of `{spec.command}`, one per variant "
                f"and seed (seeds 0-{spec.seeds - 1})"
                + (f"; dependencies of the same seed: {t.listing(deps)}" if deps else "")
                + f"; parameters: {params}. The engine writes each run's spec.json from exactly these values.")
        if spec.generated:
            text += (f" The program is generated code ({spec.generated['path']}, sha256 "
                     f"{spec.generated['sha256'][:12]}), run only in the sandbox.")
        await self.dialogue.say("coder", text, kind=MessageKind.SPEC, experiment_id=exp_id)
        return spec

    async def generate(self, topic: Topic, state: LabState) -> NewExperiment | None:
        """New experiment code for a topic no catalog entry covers; None when it cannot be had."""
        if not (self.settings.llm.allow_generated_code and self.dialogue.backend == "openai"):
            return None
        isolation = sandbox_isolation.probe()
        if not isolation.works and not self.settings.llm.sandbox.allow_unsandboxed:
            await self.dialogue.notice(isolation.refusal)
            return None
        pair = [state.get(i) for i in topic.pair or ()]
        described = []
        for exp in pair:
            if exp is None:
                continue
            entry = state.all_entries.get(exp.catalog)
            head = exp.breakdown.headline
            best = exp.breakdown.variants.get(head.variant) if head else None
            described.append(f"experiment {exp.id} {exp.catalog}: {entry.summary if entry else ''} Best variant "
                             f"{head.variant if head else None} with {best.params if best else None}, "
                             f"E = {units.num(head.efficiency_score if head else None)}.")
        answer = await self.dialogue.decide(
            "coder", "Write a new experiment program that combines these two techniques, with a baseline "
            "variant and variants applying each technique alone and both together.\n" + PROTOCOL,
            "\n".join(described), GENERATED_SCHEMA, GeneratedProgram.of, max_tokens=8000)
        if answer is None:
            return None
        problem = self._check(answer)
        if problem:
            await self.dialogue.notice(f"the generated program was not accepted ({problem}); no experiment is "
                                       "proposed from it")
            return None
        return self._experiment(topic, answer, isolation)

    def _check(self, answer: GeneratedProgram) -> str | None:
        variants = answer.variants
        if sum(1 for v in variants if v.baseline) != 1:
            return "the plan needs exactly one baseline variant"
        try:
            topological([PlanStep(v.name, depends_on=tuple(v.depends_on)) for v in variants])
            compile(answer.source, "program.py", "exec")
        except PlanError as exc:
            return str(exc)
        except SyntaxError as exc:
            return f"syntax error at line {exc.lineno}: {exc.msg}"
        return None

    def _experiment(self, topic: Topic, answer: GeneratedProgram, isolation: sandbox_isolation.Isolation) -> NewExperiment:
        source = answer.source
        sha = hashlib.sha256(source.encode()).hexdigest()
        folder = self.lab_root / "generated"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{sha[:16]}.py"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
        limits = self.settings.llm.sandbox
        plan = tuple(v.plan_entry() for v in answer.variants)
        baseline = next(v.name for v in answer.variants if v.baseline)
        # a generated program's parameters also carry two objects, read from its spec by agents/sandbox.py only
        params = cast(ParamValues, {"profile": self.settings.profile, "device": "cpu", "dataset": "digits",
                                    "generated": {"path": str(path), "sha256": sha},
                                    "sandbox": limits.to_json(),
                                    "timeout_s": limits.timeout_s + 30, "mem_limit_bytes": limits.mem_mb * 2**20})
        metrics = answer.metrics
        return NewExperiment(
            name=f"generated-of-{topic.parent_id}", catalog=GENERATED, params=params, plan=plan,
            seeds=topic.seeds or self.settings.seeds, hypothesis=topic.hypothesis,
            research_question=topic.research_question,
            deliverables=(Deliverable.of({"kind": "contains_keys", "keys": sorted({metrics["quality"], metrics["energy"]})}),),
            metadata=ExperimentMetadata(generated=ProgramRecord(
                str(path), sha, source, self.settings.llm.model, answer.explanation, metrics, answer.gain_phase, baseline,
                isolation.record)),
            parent_id=topic.parent_id, modifications=_generated_modifications(topic, sha),
            source="agents")
