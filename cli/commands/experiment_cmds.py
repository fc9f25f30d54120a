"""`lab run`, `lab queue [add]`, `lab status`, `lab show`, `lab logs`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cli.commands.common import RUN_HEADERS, add_json, parse_param_args, run_rows, table
from cli.commands.llm_cmds import model_state
from cli.context import CommandError, Context
from contract import units
from contract.diskspace import read_notice
from contract.jsonvalue import JsonObject
from contract.limits import MAX_SEEDS, MIN_SEEDS, seeds_problem
from db import Experiment, Run, RunState, Store
from db import ExperimentState as E
from db.states import EXPERIMENT_FINISHED, RUN_ACTIVE
from engine import control, detached_run
from engine.control import engine_status, runs_wait
from science.jobs import Job, JobError, check_name, read_job
from science.rubric import preliminary_note, preliminary_reason, preliminary_text


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="queue a catalog experiment (approved: you asked for it)")
    p.add_argument("experiment", help="catalog entry (see `lab list`)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter, repeatable (e.g. -p profile=smoke)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per variant (default 1)")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    p.add_argument("--name", default=None, help="a name for this experiment (default: the catalog entry)")
    p.add_argument("--hypothesis", default="", help="what you expect and why")
    p.add_argument("--wait", action="store_true", help="wait until the experiment has finished")
    add_json(p)
    p.set_defaults(func=run_experiment)

    q = sub.add_parser("queue", help="what is queued and running; `lab queue add job.json` to enqueue a job")
    q.add_argument("action", nargs="?", choices=["add"], help="add a JSON job file")
    q.add_argument("job", nargs="?", help="the job file for `add`")
    q.add_argument("--wait", action="store_true", help="with add: wait until the experiment has finished")
    add_json(q)
    q.set_defaults(func=queue)

    sb = sub.add_parser("submit", help="queue a job file (the lab's format, the published pipeline format or "
                                       "a genealogy file; JSON with comments), as `lab queue add`")
    sb.add_argument("job", help="the job file")
    sb.add_argument("--wait", action="store_true", help="wait until the experiment has finished")
    add_json(sb)
    sb.set_defaults(func=submit_cmd)

    s = sub.add_parser("status", help="engine, experiments by state, active runs, energy")
    add_json(s)
    s.set_defaults(func=status)

    sh = sub.add_parser("show", help="one experiment: plan, runs, results")
    sh.add_argument("id", type=int, help="experiment id")
    sh.add_argument("--results-json", action="store_true",
                    help="its results in the published job format (status, deliverables_status, summary_metrics)")
    add_json(sh)
    sh.set_defaults(func=show)

    lg = sub.add_parser("logs", help="the output of a run")
    lg.add_argument("run", type=int, help="run id")
    which = lg.add_mutually_exclusive_group()
    which.add_argument("--stdout", action="store_const", const="stdout", dest="stream",
                       help="the run's standard output (default: its standard error)")
    which.add_argument("--events", action="store_const", const="events.jsonl", dest="stream",
                       help="the run's events (events.jsonl: metrics, phases, results), one JSON object a line")
    lg.add_argument("-n", "--lines", type=int, default=40, help="lines from the end (default 40)")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    lg.set_defaults(func=logs, stream="stderr")


async def submit(ctx: Context, job: Job, *, wait: bool, source: str = "cli", problems: Sequence[str] = ()) -> int:
    """Validate completely, then record the experiment approved, then make sure the engine runs."""
    store = await ctx.store()
    done = await (await ctx.client()).submit(job, ctx.catalog, source, problems)
    exp_id, new, runs = done.experiment_id, done.new, done.run_ids
    ctx.ensure_engine()
    prelim = preliminary_reason(new.params.get("profile"), new.seeds)
    if ctx.as_json and not wait:
        ctx.out_json({"experiment_id": exp_id, "runs": runs, "preliminary": prelim})
        return 0
    if not ctx.as_json:
        external = new.metadata.job.experiment_id if new.metadata.job else None
        ctx.out(f"experiment {exp_id} ({new.catalog}) queued: {len(runs)} run(s) "
                f"({len(new.plan)} variant(s) x {new.seeds} seed(s))"
                + (f", external id {external}" if external else "") + f"; follow it with `lab show {exp_id}`")
        if prelim:
            ctx.out(f"note: {preliminary_note(prelim)}")
        from science.analysis import bases_note  # here: the other commands need not load the analysis

        uneven = bases_note(new.params, new.seeds)
        if uneven:
            ctx.out(f"note: {uneven}")
    if not wait:
        return 0
    exp = await wait_for_experiment(ctx, store, exp_id)
    if ctx.as_json:
        ctx.out_json(await experiment_report(store, exp_id))
    else:
        ctx.out(final_line(exp))
    return 0 if exp.status == E.DONE else 1


def final_line(exp: Experiment) -> str:
    """What `--wait` ends with, on one line: the outcome, the rating (preliminary or not) and the
    headline, as `lab rating` says them."""
    from science.headline import headline_text

    line = f"experiment {exp.id} {exp.status}" + (f": {exp.error}" if exp.error else "")
    rated = exp.rating_breakdown
    if rated is None or exp.rating is None:
        return line + ("; not rated (the validator's message is in `lab status`)" if exp.status == E.DONE
                       else "")
    prelim = preliminary_text(exp)
    return (line + f"; rated {exp.rating:g}/10" + (f", {prelim}" if prelim else "")
            + f"; headline: {headline_text(rated.headline, rated.quality_key)}")


async def wait_for_experiment(ctx: Context, store: Store, exp_id: int) -> Experiment:
    seen: dict[int, RunState] = {}
    said: str | None = None  # why its runs wait, as last printed
    while True:
        exp = await store.get_experiment(exp_id)
        assert exp is not None
        if not ctx.as_json:
            runs = await store.list_runs(exp_id)
            held = any(r.status in (RunState.QUEUED, RunState.PENDING) for r in runs)
            why = runs_wait(await store.settings(), control.engine_pid(ctx.lab) is not None) if held else None
            if why is None and said:  # before the runs' new states: a run that started and ended
                ctx.out("  runs no longer wait")  # between two looks did so once they no longer waited
                said = None
            for run in runs:
                if seen.get(run.id) != run.status:
                    seen[run.id] = run.status
                    note = f": {run.error}" if run.error else ""
                    ctx.out(f"  run {run.id} {run.variant} seed {run.seed}: {run.status}{note}")
            if why and why != said:
                ctx.out(f"  runs wait: {why}")
                said = why
            sys.stdout.flush()
        if exp.status in EXPERIMENT_FINISHED:
            return exp
        await asyncio.sleep(0.2)


async def run_experiment(args: argparse.Namespace, ctx: Context) -> int:
    entry = await asyncio.to_thread(ctx.catalog.get, args.experiment)
    params = parse_param_args(args.param, entry)
    if args.name is not None and (problem := check_name(args.name)):
        raise JobError([problem], "lab")
    if seeds_problem(args.seeds):
        raise JobError([f"--seeds: expected {MIN_SEEDS} to {MAX_SEEDS}, got {args.seeds}"], "lab")
    job = Job(experiment=args.experiment, params=params, name=args.name or args.experiment,
              hypothesis=args.hypothesis, seeds=args.seeds, priority=args.priority)
    return await submit(ctx, job, wait=args.wait)


async def queue(args: argparse.Namespace, ctx: Context) -> int:
    if args.action == "add":
        if not args.job:
            raise CommandError("usage: lab queue add JOB.json", 2)
        return await submit_file(ctx, args.job, wait=args.wait)
    store = await ctx.store()
    runs = await store.list_runs(statuses=[RunState.RUNNING, RunState.QUEUED, RunState.PENDING])
    if ctx.as_json:
        ctx.out_json(runs)
        return 0
    if not runs:
        ctx.out("the queue is empty")
        return 0
    order = {RunState.RUNNING: 0, RunState.QUEUED: 1, RunState.PENDING: 2}
    runs.sort(key=lambda r: (order[r.status], -r.priority, r.queued_at or 0, r.id))
    ctx.out(table(run_rows(runs, time.time()), RUN_HEADERS))
    return 0


async def submit_file(ctx: Context, path: str, *, wait: bool) -> int:
    """A job file, every problem of it in one answer (shape, parent, parameters), or queued."""
    job, problems = read_job(path)
    try:
        return await submit(ctx, job, wait=wait, source="job", problems=problems)
    except JobError as exc:
        raise JobError(exc.problems, path) from None


async def submit_cmd(args: argparse.Namespace, ctx: Context) -> int:
    return await submit_file(ctx, args.job, wait=args.wait)


async def status(args: argparse.Namespace, ctx: Context) -> int:
    store = await ctx.store()
    engine = await engine_status(ctx.lab, store)
    counts = await store.experiment_counts()
    active = await store.list_runs(statuses=[RunState.RUNNING])
    queued = await store.list_runs(statuses=[RunState.QUEUED, RunState.PENDING])
    waiting = sorted(await store.list_experiments(statuses=[E.AWAITING_APPROVAL, E.PROPOSED]),
                     key=lambda e: e.id)
    energy = await store.energy_totals()
    settings = await store.settings()
    disk = read_notice(ctx.lab.disk_notice) if engine.running else None  # what waits for space, if anything
    model = await model_state(ctx)
    if ctx.as_json:
        ctx.out_json({"lab": str(ctx.lab.root), "engine": engine.__dict__, "experiments": counts,
                      "running_runs": [r.id for r in active], "queued_runs": len(queued),
                      "awaiting_approval": [e.id for e in waiting], "energy": energy,
                      "paused": settings.paused, "disk_full": disk.line() if disk else None,
                      "model": model.as_json(), "runs_wait": runs_wait(settings, engine.running) if queued else None})
        return 0
    ctx.out(f"lab: {ctx.lab.root}")
    ctx.out(engine.describe() + ("  [queue paused]" if settings.paused else ""))
    if disk:
        ctx.out(f"disk full: {disk.line()}")
    ctx.out("experiments: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none yet"))
    why = runs_wait(settings, engine.running) if queued else None
    ctx.out(f"runs: {len(active)} running, {len(queued)} waiting" + (f": {why}" if why else ""))
    if waiting:
        ctx.out("awaiting approval: " + ", ".join(f"{e.id} {e.name}" for e in waiting)
                + "  (lab approve <id>)")
    ctx.out(model.line(time.time()))
    if energy.runs:
        ctx.out(f"energy: {units.energy(energy.energy_kwh, energy.estimated)}, "
                f"{units.co2(energy.co2_kg, energy.estimated)} over {energy.runs} run(s)")
    else:
        ctx.out("energy: none recorded yet")
    if active:
        ctx.out()
        ctx.out(table(run_rows(active, time.time()), RUN_HEADERS))
    return 0


async def experiment_runs(store: Store, exp_id: int) -> tuple[Experiment, list[Run]]:
    exp = await store.get_experiment(exp_id)
    if exp is None:
        raise CommandError(f"no experiment with id {exp_id} (see `lab status`)", 2)
    return exp, await store.list_runs(exp_id)


async def experiment_report(store: Store, exp_id: int) -> JsonObject:
    """The experiment with its runs, as `--json` prints them."""
    exp, runs = await experiment_runs(store, exp_id)
    return {**exp.to_dict(), "runs": [r.to_dict() for r in runs]}


MAIN_RESULT_KEYS = ("test_accuracy", "train_time_s", "latency_b1_ms", "model_size_bytes", "energy_kwh")


async def show(args: argparse.Namespace, ctx: Context) -> int:
    store = await ctx.store()
    exp, runs = await experiment_runs(store, args.id)
    if args.results_json:
        from records import results_payload

        ctx.out_json(results_payload.payload(exp, runs, _record_folder(ctx, exp), ctx.lab.root))
        return 0
    if ctx.as_json:
        ctx.out_json({**exp.to_dict(), "runs": [r.to_dict() for r in runs]})
        return 0
    ctx.out(f"experiment {exp.id}: {exp.name} ({exp.catalog})  status {exp.status}  "
            f"priority {exp.priority}")
    for line in [*_metadata_lines(exp), *_parent_lines(exp)]:
        ctx.out(line)
    for label, said in (("hypothesis", exp.hypothesis), ("research question", exp.research_question),
                        ("error", exp.error), ("rejected because", exp.reject_reason)):
        if said:
            ctx.out(f"{label}: {said}")
    if exp.rating is not None:
        ctx.out(f"rating: {exp.rating:g}/10 (lab rating {exp.id} for the breakdown)")
    ctx.out(f"created {units.when(exp.created_at)}, finished {units.when(exp.finished_at)}")
    ctx.out("params: " + ", ".join(f"{k}={v}" for k, v in sorted(exp.params.items())))
    ctx.out(f"plan: {len(exp.plan)} variant(s) x {exp.seeds} seed(s): "
            + ", ".join(v.name + (f" <- {'+'.join(v.depends_on)}" if v.depends_on else "")
                        for v in exp.plan))
    from records import provenance  # here: only `lab show` reads the record (~40 ms to import)

    for line in provenance.lines(exp, runs, _record_folder(ctx, exp)):
        ctx.out(line)
    if runs:
        ctx.out()
        ctx.out(table(run_rows(runs, time.time()), RUN_HEADERS))
        results = [(r, r.result) for r in runs if isinstance(r.result, dict)]
        if results:
            keys = [k for k in MAIN_RESULT_KEYS if any(k in res for _, res in results)]
            ctx.out()
            rows = [[str(r.id), r.variant, str(r.seed),
                     *(units.result_value(k, res.get(k)) for k in keys),
                     str(res.get("energy_mode", units.MISSING))] for r, res in results]
            ctx.out(table(rows, ["run", "variant", "seed", *keys, "energy mode"]))
    return 0


def _metadata_lines(exp: Experiment) -> list[str]:
    """What the experiment's metadata says of it: its job file's id, description and analysis
    pipeline, and the model alias it was given."""
    lines = []
    job = exp.metadata.job
    if job is not None:
        if job.experiment_id:
            lines.append(f"external id: {job.experiment_id}")
        if job.description:
            lines.append(f"description: {job.description}")
        if job.analysis_pipeline:
            lines.append("analysis pipeline: " + ", ".join(s.step for s in job.analysis_pipeline))
    alias = exp.metadata.model_alias
    if alias is not None:
        lines.append(f"model: {alias.name} (config.toml [models] alias of {alias.path})")
    return lines


def _parent_lines(exp: Experiment) -> list[str]:
    """Its parent, what changed from it and why (none for an experiment of its own)."""
    if not exp.parent_id:
        return []
    from records import genealogy

    named = exp.modifications.parent_experiment
    lines = [f"parent: {exp.parent_id}" + (f" ({named})" if isinstance(named, str) else "")]
    lines += [f"  changed: {change.text()}" for change in genealogy.changes(exp)]
    if why := genealogy.rationale(exp):
        lines.append(f"  rationale: {why}")
    return lines


def _record_folder(ctx: Context, exp: Experiment) -> Path | None:
    from records import provenance

    return provenance.record_folder(ctx.lab.exp, exp.id)


async def logs(args: argparse.Namespace, ctx: Context) -> int:
    store = await ctx.store()
    run = await store.get_run(args.run)
    if run is None:
        raise CommandError(f"no run with id {args.run} (see `lab show <experiment>`)", 2)
    path = Path(run.run_dir or ctx.lab.run_dir(args.run)) / args.stream
    if not path.exists():
        ctx.out(f"(run {args.run} has no {args.stream} yet: it is {run.status})")
        return 0
    text = detached_run.tail(path, args.lines)
    ctx.out(text if text.strip() else f"(empty: run {args.run} has written nothing to {args.stream}"
            + (" yet)" if run.status in (RunState.RUNNING, RunState.QUEUED, RunState.PENDING) else ")"))
    if not args.follow:
        return 0
    offset = path.stat().st_size
    while True:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        if data:
            sys.stdout.write(data.decode("utf-8", "replace"))
            sys.stdout.flush()
            offset += len(data)
        current = await store.get_run(args.run)
        if current and current.status not in RUN_ACTIVE:
            return 0
        await asyncio.sleep(0.5)
