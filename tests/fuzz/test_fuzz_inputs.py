"""Property-based fuzzing (hypothesis) of what users and programs hand the lab: job files (both
formats), `-p` parameters, config.toml, events lines and run specs. Every input is either
accepted or refused with the lab's own error (one line per problem), never a traceback, and a
refused job records nothing (the database is checked after each one).

Reproducible: `derandomize=True` draws the same cases on every run (no example database), and
`deadline=None` keeps a loaded CI machine from failing a slow case. At least 500 cases per run
of the suite (counted, and checked by the last test of this file).
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.research_settings import SettingsError, load_settings, read_config
from contract.layout import DEFAULT_CONFIG, LabDir
from db import ExperimentState, IngestBatch, NewExperiment, Store
from engine.config import ConfigError, load_config
from engine.ingest import parse_lines
from science.catalog import Catalog, CatalogError, InvalidParamsError
from science.jobs import Job, JobError, build_experiment, parse_job, read_job_file
from tests.conftest import open_lab

CASES: Counter[str] = Counter()


def fuzz(n: int) -> Any:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


# -- values --------------------------------------------------------------------------------------

HUGE = st.sampled_from([2 ** 63, -(2 ** 63) - 1, 10 ** 400, -(10 ** 30)])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 6), HUGE,
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                    st.sampled_from(["", "high", "low", "normal", "fake", "dag", "../x", "nan", "[/]", "\x00"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                    max_leaves=12)

GOOD_LAB_JOB: dict[str, Any] = {"name": "try-fake", "experiment": "fake", "params": {"steps": 3}, "hypothesis": "h",
                                "research_question": "q", "seeds": 2, "priority": 1,
                                "deliverables": [{"kind": "contains_keys", "keys": ["test_accuracy"]}],
                                "metadata": {"by": "fuzz"}}
GOOD_PUBLISHED: dict[str, Any] = {
    "experiment_id": "fz-1", "description": "d", "config": {"experiment": "dag", "steps": 2},
    "deliverables": [{"type": "metrics", "validation": "contains_keys", "keys": ["test_accuracy"]},
                     {"type": "checkpoint", "validation": "exists_and_loadable"},
                     {"type": "metric", "validation": {"kind": "threshold", "key": "test_accuracy", "value": 0.1}}],
    "analysis_pipeline": ["performance_analysis", {"step": "baseline_comparison"}],
    "metadata": {"priority": "high"}}
DELIVERABLE_KEYS = ["kind", "type", "validation", "keys", "key", "op", "value", "path", "artifact_kind", "sections",
                    "target", "expected", "tolerance", "sha256", "alpha", "expect", "variant", "margin"]


@st.composite
def mutated(draw: Any, base: dict[str, Any]) -> Any:
    """A good job with some fields replaced, dropped or added (near misses find more than noise)."""
    job = json.loads(json.dumps(base))
    for key in draw(st.lists(st.sampled_from([*sorted(job), "colour", "experiment", "config", "params"]),
                             max_size=3, unique=True)):
        action = draw(st.sampled_from(["replace", "drop", "nested"]))
        if action == "drop":
            job.pop(key, None)
        elif action == "nested" and isinstance(job.get(key), dict):
            job[key][draw(st.text(max_size=8))] = draw(JSON)
        else:
            job[key] = draw(JSON)
    if draw(st.booleans()) and isinstance(job.get("deliverables"), list):
        job["deliverables"].append(draw(st.dictionaries(st.sampled_from(DELIVERABLE_KEYS), JSON, max_size=4)))
    return job


JOBS = st.one_of(JSON, mutated(GOOD_LAB_JOB), mutated(GOOD_PUBLISHED))


def one_line_problems(exc: JobError) -> None:
    assert exc.problems and all(isinstance(p, str) and p and "\n" not in p for p in exc.problems), exc.problems


# -- job files ------------------------------------------------------------------------------------

@fuzz(200)
@given(JOBS)
def test_job_objects_are_accepted_or_refused_line_by_line(data: Any) -> None:
    CASES["job objects"] += 1
    try:
        job = parse_job(data)
    except JobError as exc:
        one_line_problems(exc)
        return
    assert isinstance(job, Job) and isinstance(job.experiment, str) and 1 <= job.seeds <= 20


@st.composite
def job_texts(draw: Any) -> bytes:
    text = json.dumps(draw(st.one_of(mutated(GOOD_LAB_JOB), mutated(GOOD_PUBLISHED))), allow_nan=True)
    how = draw(st.sampled_from(["whole", "cut", "bytes", "deep", "bom", "comment", "deep_metadata", "huge", "utf16",
                                "latin1"]))
    if how == "cut":
        return text[: draw(st.integers(0, len(text)))].encode()
    if how == "bytes":
        return draw(st.binary(max_size=64))
    if how == "deep":
        depth = draw(st.sampled_from([100, 5000, 20_000]))
        return ("[" * depth + "]" * depth).encode()
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if how == "comment":  # a comment anywhere between tokens, maybe never closed
        cut = draw(st.integers(0, len(text)))
        return (text[:cut] + draw(st.sampled_from(["// note\n", "/* note */", "/* open", "//"])) + text[cut:]).encode()
    if how == "deep_metadata":  # issue 22: metadata 100+ levels deep ended in an internal RecursionError
        depth = draw(st.sampled_from([33, 100, 150, 1000]))
        return ('{"experiment": "fake", "metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}").encode()
    if how == "huge":
        number = draw(st.sampled_from(["9" * 41, "9" * 5000, "1e999", "-1e999", "1" + "0" * 400 + ".5"]))
        return text.replace('"seeds": 2', f'"seeds": {number}').replace('"steps": 2', f'"steps": {number}').encode()
    if how == "utf16":
        return text.encode("utf-16")
    if how == "latin1":
        return text.replace('"d"', '"caf\u00e9"').encode("latin-1", "replace")
    return text.encode()


@fuzz(120)
@given(job_texts())
def test_job_files_truncated_binary_or_deep_are_refused_cleanly(tmp_path: Path, data: bytes) -> None:
    CASES["job files"] += 1
    path = tmp_path / "job.json"
    path.write_bytes(data)
    try:
        read_job_file(path)
    except JobError as exc:
        one_line_problems(exc)


@pytest.fixture(scope="module")
def fuzz_lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with open_lab(tmp_path_factory.mktemp("fuzz")) as lab:
        lab.dir.ensure()
        yield lab


def _submit(db: Path, job_data: Any, catalog: Catalog) -> tuple[bool, int, int]:
    """What `lab queue add` does before it starts the engine: check everything, then record."""
    async def go() -> tuple[bool, int, int]:
        store = await Store.open(db)
        try:
            before = len(await store.list_experiments())
            try:
                job = parse_job(job_data)
                new = build_experiment(job, catalog, "job")
                await store.create_experiment(new)
                accepted = True
            except JobError as exc:
                one_line_problems(exc)
                accepted = False
            except (CatalogError, InvalidParamsError):
                accepted = False
            return accepted, before, len(await store.list_experiments())
        finally:
            await store.close()
    return asyncio.run(go())


@fuzz(30)
@given(st.one_of(mutated(GOOD_LAB_JOB), mutated(GOOD_PUBLISHED)))
def test_a_refused_job_records_nothing(fuzz_lab: Any, data: Any) -> None:
    CASES["job submissions"] += 1
    accepted, before, after = _submit(fuzz_lab.dir.db, data, Catalog())
    assert after == before + (1 if accepted else 0)
    conn = sqlite3.connect(fuzz_lab.dir.db)
    try:  # a refused job left no run, event or half-made row behind either
        orphans = conn.execute("SELECT COUNT(*) FROM runs WHERE experiment_id NOT IN (SELECT id FROM experiments)")
        assert orphans.fetchone()[0] == 0
    finally:
        conn.close()


# -- -p parameters ---------------------------------------------------------------------------

PAIRS = st.lists(st.one_of(
    st.text(max_size=16),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["steps", "step_sleep_s", "skip", "profile", "fail_variant",
                                                          "device", "values_per_step", "warp", " steps ", ""]),
              st.one_of(st.text(max_size=12), st.sampled_from(["nan", "inf", "-inf", "1e400", "10**9", "true",
                                                                 "yes", "0x10", "1_000", "smoke", "[1,2]", "",
                                                                 "9" * 40])))), max_size=4)


@pytest.fixture(scope="module")
def fake_entries(fuzz_lab: Any) -> list[Any]:
    catalog = Catalog()
    return [catalog.get("fake"), catalog.get("dag")]


@fuzz(120)
@given(pairs=PAIRS, which=st.integers(0, 1))
def test_p_parameters_are_typed_or_refused(fake_entries: list[Any], pairs: list[str], which: int) -> None:
    from cli.commands.common import parse_param_args

    CASES["-p parameters"] += 1
    entry = fake_entries[which]
    try:
        params = parse_param_args(pairs, entry)
    except JobError as exc:
        one_line_problems(exc)
        return
    for key, value in params.items():
        assert entry.param(key) is not None
        assert not (isinstance(value, float) and not math.isfinite(value)), (key, value)


# -- config.toml ------------------------------------------------------------------------------

def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


TOML_SCALAR = st.one_of(st.booleans(), st.integers(-(2 ** 63), 2 ** 63 - 1), st.floats(allow_nan=True),
                        st.text(max_size=10), st.sampled_from(["auto", "openai", "offline", "smoke"]))
TOML_VALUE = st.one_of(TOML_SCALAR, st.lists(TOML_SCALAR, max_size=3))
SECTIONS = {"slots": ["cpu", "gpus", "per_gpu", "threads_per_run"], "runs": ["timeout_s", "mem_limit_mb", "retries"],
            "engine": ["monitor_interval_s", "system_history", "min_free_mb"],
            "research": ["autonomy", "background", "backend", "profile", "seeds", "catalog", "parallel", "max_depth",
                         "interval_s"],
            "budgets": ["experiments_per_hour", "kwh_per_day", "llm_usd_per_day"],
            "llm": ["timeout_s", "first_byte_timeout_s", "stall_timeout_s", "retries", "backoff_s", "degraded_retry_s",
                    "wait_notice_s", "price_in_per_mtok", "temperature", "sandbox"],
            "tui": ["refresh_s", "curves_s"], "keys": ["approval.approve", "app.quit"]}


@st.composite
def config_texts(draw: Any) -> str:
    how = draw(st.sampled_from(["tables", "tables", "scalar-section", "cut", "noise"]))
    if how == "cut":
        return DEFAULT_CONFIG[: draw(st.integers(0, len(DEFAULT_CONFIG)))]
    if how == "noise":
        return draw(st.text(max_size=80))
    out = []
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=4, unique=True)):
        if how == "scalar-section" and draw(st.booleans()):
            out.append(f"{section} = {toml_value(draw(TOML_SCALAR))}")
            continue
        out.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(SECTIONS[section]), max_size=4, unique=True)):
            out.append(f"{json.dumps(key)} = {toml_value(draw(TOML_VALUE))}")
    return "\n".join(out) + "\n"


@fuzz(120)
@given(config_texts())
def test_config_toml_is_read_or_refused_with_its_key_named(tmp_path: Path, text: str) -> None:
    from tui.ui_settings import load_ui_settings

    CASES["config.toml"] += 1
    lab = LabDir(tmp_path / "lab")
    lab.root.mkdir(parents=True, exist_ok=True)
    lab.config.write_text(text)
    for read in (lambda: load_config(lab), lambda: load_settings(read_config(lab.root), env={})):
        try:
            read()
        except (ConfigError, SettingsError) as exc:
            assert str(exc) and "\n" not in str(exc).strip(), str(exc)
    ui = load_ui_settings(lab, user_keymap=tmp_path / "no-keymap.toml")  # never raises: problems are shown
    assert all(isinstance(p, str) for p in ui.problems)
    assert math.isfinite(ui.refresh_s) and ui.refresh_s > 0


# -- events lines -------------------------------------------------------------------------------

EVENT_TYPES = st.sampled_from(["metric", "progress", "log", "artifact", "result", "weird", None, 3])


@st.composite
def event_lines(draw: Any) -> list[bytes]:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        event: dict[str, Any] = {"type": draw(EVENT_TYPES)}
        for key in draw(st.lists(st.sampled_from(["step", "values", "done", "total", "t", "level", "message",
                                                  "path", "kind"]), max_size=5, unique=True)):
            event[key] = draw(JSON)
        if event["type"] == "metric" and draw(st.booleans()):
            event["step"] = draw(st.one_of(st.integers(0, 10), HUGE))
            event["values"] = draw(st.dictionaries(st.text(max_size=6), SCALARS, max_size=4))
        if event["type"] == "result" and draw(st.booleans()):
            event["values"] = draw(st.dictionaries(st.sampled_from(["energy_kwh", "test_accuracy", "energy_mode"]),
                                                   SCALARS, max_size=3))
        line = json.dumps(event, allow_nan=True)
        how = draw(st.sampled_from(["whole", "whole", "cut", "huge", "bytes", "deep"]))
        if how == "cut":
            line = line[: draw(st.integers(0, len(line)))]
        elif how == "huge":
            line = json.dumps({"type": "log", "message": "x" * 20_000})
        elif how == "deep":
            line = '{"type": "result", "values": ' + "[" * 5000 + "]" * 5000 + "}"
        data = draw(st.binary(max_size=40)).replace(b"\n", b" ") if how == "bytes" else line.encode()
        lines.append(data)
    return lines


@pytest.fixture(scope="module")
def ingest_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One store and one event loop for every case (opening a store per case costs more than the case)."""
    path = tmp_path_factory.mktemp("ingest") / "lab.db"
    loop = asyncio.new_event_loop()

    async def make() -> tuple[Store, int]:
        store = await Store.open(path)
        exp = await store.create_experiment(NewExperiment(name="fz", catalog="fake", params={},
                                                          plan=[{"name": "baseline", "baseline": True,
                                                                 "depends_on": [], "params": {}}]),
                                            status=ExperimentState.APPROVED)
        return store, (await store.list_runs(exp))[0].id
    store, run_id = loop.run_until_complete(make())
    yield path, loop, store, run_id
    loop.run_until_complete(store.close())
    loop.close()


@fuzz(150)
@given(event_lines())
def test_events_lines_never_break_ingest(ingest_store: Any, lines: list[bytes]) -> None:
    CASES["events lines"] += 1
    path, loop, store, run_id = ingest_store

    async def go() -> None:
        run = await store.get_run(run_id)
        size = sum(len(line) + 1 for line in lines)
        batch = IngestBatch(run_id=run_id, attempt=run.attempt, offset_from=run.ingest_offset,
                            offset_to=run.ingest_offset + size)
        parse_lines(batch, lines)
        await store.ingest(batch)
        after = await store.get_run(run_id)
        assert after.ingest_offset == batch.offset_to  # the batch was committed, once
        if after.result is not None:  # what the control room and `lab show --json` read back
            json.dumps(after.result, allow_nan=False)
        for value in (after.progress_done, after.progress_total, after.energy_kwh):
            assert value is None or math.isfinite(value)
    loop.run_until_complete(go())
    conn = sqlite3.connect(path)
    try:
        bad = conn.execute("SELECT COUNT(*) FROM metrics WHERE value IS NOT NULL AND (value != value "
                           "OR abs(value) > 1e308)").fetchone()[0]
        assert bad == 0
    finally:
        conn.close()


# -- run specs ----------------------------------------------------------------------------------

SPEC_KEYS = ["name", "variant", "seed", "params", "variant_params", "profile", "device", "output_dir", "events_path"]


@st.composite
def specs(draw: Any) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return draw(JSON)
    spec: dict[str, Any] = {"name": draw(st.sampled_from(["logreg", "pruning", "nope", "", "../x"])),
                            "variant": draw(st.sampled_from(["baseline", "fp32", "zz"]))}
    for key in draw(st.lists(st.sampled_from(SPEC_KEYS), max_size=4, unique=True)):
        spec[key] = draw(JSON)
    if draw(st.booleans()):
        spec["params"] = {draw(st.sampled_from(["epochs", "lr", "profile", "dataset", "zz"])): draw(SCALARS)}
    return spec


@fuzz(80)
@given(specs())
def test_run_specs_are_resolved_or_refused(tmp_path: Path, spec: Any) -> None:
    """The experiment program's reading of a spec (`python -m experiments NAME --spec FILE`), up to
    the point where a run would start: a bad spec is a clear error, exit 2, never a traceback."""
    from contract.runspec import RunSpec, SpecError
    from experiments.command_line import cmd_spec
    from experiments.declare import ParamListError
    from experiments.harness.errors import ExperimentError
    from experiments.runner import resolve

    CASES["run specs"] += 1
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec, allow_nan=True))
    if not isinstance(spec, dict):
        assert cmd_spec("logreg", ["--spec", str(path)]) == 2
        return
    try:
        resolve(RunSpec.from_json(spec))
    except SpecError as exc:  # one line naming the key
        assert str(exc) and "\n" not in str(exc)
        assert cmd_spec("logreg", ["--spec", str(path)]) == 2
    except (ExperimentError, ParamListError) as exc:
        assert str(exc)


def test_zz_at_least_500_generated_cases_ran() -> None:
    expected = {"job objects", "job files", "job submissions", "-p parameters", "config.toml", "events lines",
                "run specs"}
    if set(CASES) != expected:
        pytest.skip(f"only part of the fuzz suite ran ({', '.join(sorted(CASES)) or 'none'})")
    assert sum(CASES.values()) >= 500, CASES
