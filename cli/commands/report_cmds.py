"""`lab report [<id>]`, `lab paper`, `lab reproduce <id>`: the lab's results for people to read,
and experiments re-run from their git record.

The reports are written by `records.reports` (matplotlib is imported there, only when a figure is
drawn); the text is the agents' backend's: offline from the numbers, or with a language model
around the same numbers.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from agents.research_settings import ResearchSettings, SettingsError, current_settings, read_config
from cli.commands.common import add_json, table
from cli.context import CommandError, Context
from contract import quantities, units
from contract.limits import BACKENDS
from db import Experiment
from db import ExperimentState as E

if TYPE_CHECKING:
    from db import Store
    from records.reproduce import Record
    from science.reproduction import Check

FINISHED = ("done", "failed")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("report", help="the lab's research summary (<lab>/reports/summary.md), or one "
                                      "experiment's report.md with its figures")
    r.add_argument("id", nargs="?", type=int, help="one experiment: write its report (default: the lab summary)")
    r.add_argument("--out", default=None, help="folder to write (default <lab>/reports, or <lab>/reports/exp-<id>)")
    r.add_argument("--backend", choices=BACKENDS, default=None, help="who writes the prose (default: the lab's)")
    r.add_argument("--tracker", action="store_true", help="print the research tracker (quality bands, success "
                   "rate, breakthroughs, best gains, each agent's contribution) instead of writing files")
    add_json(r)
    r.set_defaults(func=report)

    p = sub.add_parser("paper", help="a paper draft (Markdown and LaTeX) from the rated experiments")
    p.add_argument("--out", default=None, help="folder to write (default <lab>/paper)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="who writes the prose (default: the lab's)")
    add_json(p)
    p.set_defaults(func=paper)

    q = sub.add_parser("reproduce", help="re-run an experiment from its git record and check its confidence intervals")
    q.add_argument("id", type=int, help="experiment id (its record: tag exp/<id>)")
    q.add_argument("--no-wait", action="store_true", help="queue the reproduction and return; its report.md "
                                                          "will say whether it reproduced")
    q.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    q.add_argument("--data-changed-ok", action="store_true",
                   help="run even when a dataset file changed since the record (refused otherwise, with both sha256)")
    add_json(q)
    q.set_defaults(func=reproduce)


async def _settings(ctx: Context, backend: str | None) -> ResearchSettings:
    try:
        settings = await current_settings(await ctx.store(), read_config(ctx.lab.root))
        return settings.with_overrides(backend=backend)
    except SettingsError as exc:
        raise CommandError(str(exc), 2) from None


async def report(args: argparse.Namespace, ctx: Context) -> int:
    store = await ctx.store()
    if args.tracker:
        if args.id is not None or args.out is not None:
            raise CommandError("--tracker prints the lab's tracker: give no experiment id and no --out", 2)
        return await print_tracker(ctx, store)
    settings = await _settings(ctx, args.backend)
    if args.id is not None:
        from records.reports.experiment import write
        from records.reports.experiment_data import ReportError

        out = Path(args.out) if args.out else ctx.lab.root / "reports" / f"exp-{args.id}"
        record = next(iter(sorted(ctx.lab.exp.glob(f"{args.id}-*"))), None)  # its environment.json, if committed
        try:
            path = await write(store, args.id, out.resolve(), ctx.catalog, settings, record=record)
        except ReportError as exc:
            raise CommandError(str(exc), 2) from None
        _print_paths(ctx, {"report": path})
        return 0
    from records.reports.summary import write_summary

    out = Path(args.out) if args.out else ctx.lab.root / "reports"
    path = await write_summary(store, ctx.catalog, out.resolve(), str(ctx.lab.root), settings)
    _print_paths(ctx, {"summary": path, "data": path.with_suffix(".json")} if ctx.as_json else {"summary": path})
    return 0


async def print_tracker(ctx: Context, store: Store) -> int:
    from records.reports.lab import CONTRIBUTION_HEADERS, CONTRIBUTION_LEGEND, contribution_rows, read_tracker, tracker_lines

    t = await read_tracker(store)
    if ctx.as_json:
        ctx.out_json(t.to_json())
        return 0
    width = max(len(what) for what, _ in tracker_lines(t))
    for what, value in tracker_lines(t):
        ctx.out(f"{what.ljust(width)}  {value}")
    ctx.out()
    ctx.out(table(contribution_rows(t), CONTRIBUTION_HEADERS) if t.agents else "no proposals yet")
    ctx.out(f"\n{CONTRIBUTION_LEGEND}")
    return 0


def _print_paths(ctx: Context, paths: dict[str, Path]) -> None:
    if ctx.as_json:
        ctx.out_json({k: str(v) for k, v in paths.items()})
    else:
        for path in paths.values():
            ctx.out(str(path))


async def paper(args: argparse.Namespace, ctx: Context) -> int:
    from records.reports.paper import PaperError, write_paper

    store = await ctx.store()
    settings = await _settings(ctx, args.backend)
    out = Path(args.out) if args.out else ctx.lab.root / "paper"
    try:
        md, tex = await write_paper(store, ctx.catalog, out.resolve(), settings)
    except PaperError as exc:
        raise CommandError(str(exc), 2 if "no rated experiment" in str(exc) else 1) from None
    _print_paths(ctx, {"markdown": md, "latex": tex})
    return 0


async def reproduce(args: argparse.Namespace, ctx: Context) -> int:
    from cli.commands.experiment_cmds import wait_for_experiment
    from contract.modifications import Original
    from records.reproduce import reproduction_of
    from science.reproduction import compare, verdict

    store = await ctx.store()
    exp = await store.get_experiment(args.id)
    record = await _record(ctx, args.id, exp)
    notes = await _reproduction_notes(ctx, args.id, record, args.data_changed_ok)
    new = reproduction_of(record, parent_exists=exp is not None)
    new.priority = args.priority
    made = await (await ctx.client()).record_approved(new)
    child, runs = made.experiment_id, made.run_ids
    ctx.ensure_engine()
    if not ctx.as_json:
        ctx.out(f"experiment {child} reproduces experiment {args.id} from its record ({record.tag}, commit "
                f"{record.sha[:10]}): {len(runs)} run(s)")
        for note in notes:
            ctx.out(f"note: {note}")
    if args.no_wait:
        if ctx.as_json:
            ctx.out_json({"experiment": child, "of": args.id, "record": record.tag, "sha": record.sha, "notes": notes})
        else:
            ctx.out(f"not waiting: its report (exp/{child}-*/report.md in the lab, once committed) will say whether "
                    f"it reproduced; follow it with `lab show {child}`")
        return 0
    done = await wait_for_experiment(ctx, store, child)
    if done.status != E.DONE or not done.rating_breakdown:
        why = done.error or f"it could not be rated (see `lab rating {child}`)"
        raise CommandError(f"the reproduction (experiment {child}) is {done.status}: {why}", 1)
    checks = compare(new.modifications.original or Original(), done.breakdown)
    ok, sentence = verdict(checks)
    if ctx.as_json:
        ctx.out_json({"experiment": child, "of": args.id, "record": record.tag, "sha": record.sha,
                      "reproduced": ok, "verdict": sentence, "checks": [asdict(c) for c in checks], "notes": notes})
    else:
        ctx.out()
        ctx.out(table([_row(c) for c in checks],
                      ["variant", "key", "original mean", "original 95 % CI", f"exp {child} mean", "within"]))
        ctx.out()
        ctx.out(f"experiment {args.id}: {sentence}")
    return 0 if ok else 1


async def _record(ctx: Context, exp_id: int, exp: Experiment | None) -> Record:
    """The experiment's committed record, with a rating to compare a reproduction with; or a
    one-line refusal saying why there is none (yet)."""
    from records.reproduce import RecordMissingError, read_record

    try:
        record = await asyncio.to_thread(read_record, ctx.lab.root, exp_id)
    except RecordMissingError as exc:
        if exp is None:
            raise CommandError(f"no experiment with id {exp_id} (see `lab status`)", 2) from None
        if exp.status not in FINISHED:
            raise CommandError(f"experiment {exp_id} is {exp.status}: it has no committed record yet (an "
                               f"experiment is committed when it has finished; see `lab show {exp_id}`)", 2) from None
        raise CommandError(f"experiment {exp_id} is {exp.status} but not committed yet ({exc}); the engine "
                           f"commits it and retries a failed commit (see {ctx.lab.log})", 2) from None
    if record.experiment.rating_breakdown is None:
        raise CommandError(f"experiment {exp_id} has no rating in its record ({record.tag}): there are no "
                           "confidence intervals to compare a reproduction with", 2)
    return record


async def _reproduction_notes(ctx: Context, exp_id: int, record: Record, data_changed_ok: bool) -> list[str]:
    """What differs today from the record (the plan, the code, the data); a one-line refusal when
    the data changed and that was not allowed."""
    from records.reproduce import code_note, data_changes

    notes = []
    recorded = record.experiment
    if recorded.catalog != "generated":
        plan = await asyncio.to_thread(ctx.catalog.plan, recorded.catalog, recorded.params)
        if [v.name for v in plan.variants] != [v.name for v in recorded.plan]:
            notes.append("the catalog now expands these parameters into a different plan; the recorded plan is used")
    notes += [n for n in [await asyncio.to_thread(code_note, record)] if n]
    changed = await asyncio.to_thread(data_changes, record)
    if changed and not data_changed_ok:
        raise CommandError(f"the data of experiment {exp_id} changed since its record ({record.tag}): "
                           + "; ".join(changed) + "; a reproduction would measure other data (restore the file, or "
                           "give --data-changed-ok to run on today's data)", 2)
    notes += [f"the data changed since the record, run anyway (--data-changed-ok): {c}" for c in changed]
    return notes


def _row(c: Check) -> list[str]:

    return [c.variant, c.key, units.of(c.key, c.original_mean),
            units.interval(c.original_ci95, quantities.kind_of(c.key)), units.of(c.key, c.new_mean),
            {True: "yes", False: "no", None: "-"}[c.within] + (f" ({c.why})" if c.why else "")]
