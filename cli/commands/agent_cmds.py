"""`lab sprint`, `lab research`, `lab findings`: the research team from the shell (`lab rating <id>`:
cli/commands/rating_cmds.py).

`lab sprint` and `lab research` drive the sprint pipeline (agents/sprint.py) in the foreground
and print the dialogue as it is written; the engine runs the training and the validator.
`lab research --background` switches the engine's own research on instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from agents.research_settings import SettingsError, current_settings, read_config
from agents.sprint_outcome import Outcome, Unheld
from cli.commands.common import add_json, experiment_or_refuse
from cli.context import CommandError, Context
from contract import requests as rq
from contract.limits import BACKENDS, PROFILES
from db import Message, MessageKind, SprintStage, Store

if TYPE_CHECKING:  # the pipeline loads only when a sprint runs, keeping `lab` quick to start
    from agents.sprint import SprintPipeline

BUSY_WAIT_S = 30.0  # how long `lab sprint` waits while another host discusses
S = SprintStage
SUCCESS = frozenset({S.DONE, S.IDLE, S.AWAITING_APPROVAL, S.REJECTED})  # the stages a command exits 0 at
ENDS_RESEARCH = frozenset({S.IDLE, S.FAILED, Unheld.LOST, S.AWAITING_APPROVAL})  # `lab research` stops there


def _sprint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--autonomy", type=int, choices=[1, 2, 3], default=None,
                   help="1 assisted, 2 semi-autonomous, 3 autonomous (default: the lab's setting)")
    p.add_argument("--profile", choices=PROFILES, default=None, help="profile of the proposed experiments")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="offline (default) or openai")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sprint", help="one research sprint: proposal, plan, spec, approval, runs, rating")
    p.add_argument("--experiment", default=None, metavar="NAME", help="study this catalog entry")
    _sprint_options(p)
    add_json(p)
    p.set_defaults(func=sprint)

    r = sub.add_parser("research", help="keep running sprints (or switch the engine's background research)")
    r.add_argument("--sprints", type=int, default=None, metavar="N",
                   help="stop after N sprints (default: until nothing is left to study)")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--background", action="store_true", help="let the engine run sprints by itself")
    mode.add_argument("--off", action="store_true", help="switch the engine's background research off")
    _sprint_options(r)
    add_json(r)
    r.set_defaults(func=research)

    f = sub.add_parser("findings", help="what the experiments showed (the researcher's knowledge base)")
    f.add_argument("--experiment", type=int, default=None, metavar="ID", help="one experiment's findings")
    f.add_argument("--catalog", default=None, metavar="NAME", help="findings about one catalog entry")
    f.add_argument("-n", "--limit", type=int, default=50, help="at most this many (default 50)")
    add_json(f)
    f.set_defaults(func=findings)


async def _pipeline(args: argparse.Namespace, ctx: Context) -> SprintPipeline:
    from agents.sprint import SprintPipeline, host_id
    from engine.config import load_config

    store = await ctx.store()
    try:
        settings = (await current_settings(store, read_config(ctx.lab.root))).with_overrides(
            autonomy=args.autonomy, profile=args.profile, backend=args.backend)
    except SettingsError as exc:
        raise CommandError(str(exc), 2) from None
    if settings.backend == "openai" and (missing := settings.llm.missing()):
        raise CommandError(missing, 2)
    entries = await asyncio.to_thread(ctx.catalog.entries)
    unknown = [n for n in settings.catalog if n not in entries]
    if unknown:
        raise CommandError(f"config.toml: research.catalog names {', '.join(unknown)}, which the catalog does "
                           f"not have (it has: {', '.join(entries)})", 2)
    if getattr(args, "experiment", None):
        await asyncio.to_thread(ctx.catalog.get, args.experiment)  # an unknown name: exit 2
    return SprintPipeline(store, ctx.catalog, settings, host=host_id("cli"), lab_root=ctx.lab.root,
                          module=ctx.catalog.module, cpu_slots=load_config(ctx.lab).slots.cpu)


def _show(message: Message) -> str:
    lines = message.text.splitlines() or [""]
    head = f"[{message.agent}] "
    return "\n".join([head + lines[0], *("    " + line for line in lines[1:])])


class DialoguePrinter:
    """Prints the lab's messages once each is settled, in order (a streaming one when complete);
    a model call's waits and retries (kind `wait`) at once, each change of them as it happens."""

    def __init__(self, ctx: Context, store: Store, after_id: int, enabled: bool) -> None:
        self.ctx, self.store, self.last, self.enabled = ctx, store, after_id, enabled
        self._lock = asyncio.Lock()
        self._waits: dict[int, str] = {}  # wait rows printed, with the text printed

    async def flush(self) -> None:
        if not self.enabled:
            return
        async with self._lock:
            held = False  # a streaming message holds back the ones after it (but not the waits)
            for message in await self.store.messages(after_id=self.last, limit=500):
                if message.kind == MessageKind.WAIT:
                    if self._waits.get(message.id) != message.text:
                        self._waits[message.id] = message.text
                        self.ctx.out(_show(message))
                    if not held and not message.streaming:
                        self.last = message.id
                    continue
                if held or message.streaming:
                    held = True
                    continue
                self.ctx.out(_show(message))
                self.last = message.id
            sys.stdout.flush()

    async def out(self, text: str) -> None:
        """A line of the command's own, after the dialogue that led to it."""
        await self.flush()
        if self.enabled:
            self.ctx.out(text)


@contextlib.asynccontextmanager
async def _dialogue_printer(ctx: Context, enabled: bool) -> AsyncIterator[DialoguePrinter]:
    store = await ctx.store()
    last = await store.messages(limit=1)
    printer = DialoguePrinter(ctx, store, last[-1].id if last else 0, enabled)

    async def loop() -> None:
        while True:
            await printer.flush()
            await asyncio.sleep(0.2)

    task = asyncio.ensure_future(loop()) if enabled else None
    try:
        yield printer
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await printer.flush()


def _describe(outcome: Outcome) -> str:
    where = f" (experiment {outcome.experiment_id})" if outcome.experiment_id else ""
    text = f"sprint {outcome.sprint_id}: {outcome.stage}{where}" + (f": {outcome.note}" if outcome.note else "")
    if outcome.stage == S.AWAITING_APPROVAL:
        text += f"\n`lab approve {outcome.experiment_id}` runs it; `lab reject {outcome.experiment_id} -r why` tells " \
                "the researcher why not"
    return text


def _code(outcome: Outcome) -> int:
    return 0 if outcome.stage in SUCCESS else 1


async def sprint(args: argparse.Namespace, ctx: Context) -> int:
    pipeline = await _pipeline(args, ctx)
    ctx.ensure_engine()
    try:
        async with _dialogue_printer(ctx, not ctx.as_json) as printer:
            outcome = await pipeline.start(forced=args.experiment)
            deadline = time.monotonic() + BUSY_WAIT_S
            while outcome.stage == Unheld.BUSY and time.monotonic() < deadline:
                await asyncio.sleep(1.0)  # a discussion takes seconds; wait for its turn
                outcome = await pipeline.start(forced=args.experiment)
            if outcome.stage == Unheld.BUSY:
                raise CommandError(f"{outcome.note}; try again in a moment")
            outcome = await pipeline.follow(outcome, wait_for_approval=False)
            await printer.out(_describe(outcome))
    finally:
        await pipeline.close()
    if ctx.as_json:
        ctx.out_json(outcome.to_json())
    return _code(outcome)


async def research(args: argparse.Namespace, ctx: Context) -> int:
    if args.background or args.off:
        return await _switch_background(args, ctx)
    if args.sprints is not None and args.sprints < 1:
        raise CommandError(f"--sprints: expected a positive number, got {args.sprints}", 2)
    pipeline = await _pipeline(args, ctx)
    ctx.ensure_engine()
    outcomes: list[Outcome] = []
    try:
        async with _dialogue_printer(ctx, not ctx.as_json) as printer:
            await _take_up(pipeline, printer, args.sprints, outcomes)
            await _start_sprints(pipeline, printer, args.sprints, outcomes)
    finally:
        await pipeline.close()
    if ctx.as_json:
        ctx.out_json([o.to_json() for o in outcomes])
    else:
        done = sum(1 for o in outcomes if o.stage == S.DONE)
        ctx.out(f"{len(outcomes)} sprint(s), {done} done")
    return 0 if all(_code(o) == 0 for o in outcomes) else 1


async def _switch_background(args: argparse.Namespace, ctx: Context) -> int:
    """`lab research --background` or `--off`: the lab's settings (the settings table, over
    config.toml), which the engine's sprints use."""
    if args.off and (given := [f"--{k}" for k in ("autonomy", "profile", "backend") if getattr(args, k)]):
        raise CommandError(f"{', '.join(given)}: background research is being switched off, so there is "
                           "nothing for them to set; give them with --background", 2)
    if args.backend == "openai":
        try:
            settings = await current_settings(await ctx.store(), read_config(ctx.lab.root))
        except SettingsError as exc:
            raise CommandError(str(exc), 2) from None
        if missing := settings.llm.missing():
            raise CommandError(missing, 2)
    for name, value in (("autonomy", args.autonomy), ("research_profile", args.profile),
                        ("research_backend", args.backend)):
        if value is not None:
            ctx.out(await ctx.request(rq.Setting(name, value)))
    ctx.out(await ctx.request(rq.Setting("research", bool(args.background))))
    ctx.out("the engine runs research sprints in the background (lab research --off stops it)" if args.background
            else "background research is off")
    return 0


async def _take_up(pipeline: SprintPipeline, printer: DialoguePrinter, sprints: int | None,
                   outcomes: list[Outcome]) -> None:
    """Follow the sprints left open by others first (those awaiting approval are left to a person)."""
    for outcome in await pipeline.take_up():
        if outcome.stage == S.AWAITING_APPROVAL or (sprints is not None and len(outcomes) >= sprints):
            if outcome.sprint_id is not None:  # take_up answers for the sprints it claimed: each has its id
                await pipeline.store.release_sprint(outcome.sprint_id, pipeline.host)
            if outcome.stage == S.AWAITING_APPROVAL:
                await printer.out(f"sprint {outcome.sprint_id} waits for a person to approve experiment "
                                  f"{outcome.experiment_id}")
            continue
        if not outcome.finished:
            await printer.out(f"taking up sprint {outcome.sprint_id} (experiment {outcome.experiment_id}, "
                              f"{outcome.stage})")
        outcome = await pipeline.follow(outcome, wait_for_approval=False)
        outcomes.append(outcome)
        await printer.out(_describe(outcome))


async def _start_sprints(pipeline: SprintPipeline, printer: DialoguePrinter, sprints: int | None,
                         outcomes: list[Outcome]) -> None:
    """Start and follow new sprints until ``sprints`` have run or one ends the research."""
    while sprints is None or len(outcomes) < sprints:
        outcome = await pipeline.start()
        if outcome.stage == Unheld.BUSY:
            await asyncio.sleep(2.0)
            continue
        # a person approves in another terminal or the control room; over budget, though,
        # nothing moves until a person decides, so the command stops there
        over_budget = outcome.note.startswith("over budget")
        outcome = await pipeline.follow(outcome, wait_for_approval=not over_budget)
        outcomes.append(outcome)
        await printer.out(_describe(outcome))
        if outcome.stage in ENDS_RESEARCH:
            break


async def findings(args: argparse.Namespace, ctx: Context) -> int:
    if args.limit < 1:
        raise CommandError(f"--limit: expected a positive number, got {args.limit}", 2)
    if args.experiment is not None:
        await experiment_or_refuse(ctx, args.experiment)
    store = await ctx.store()
    from science.rubric import preliminary

    rows = await store.findings(catalog=args.catalog, experiment_id=args.experiment, limit=args.limit)
    # a smoke run's or a too-few-seeds run's sentences are said to be preliminary (issue 22)
    prelim: dict[int, bool] = {}  # keyed by experiment id
    for exp_id in {r.experiment_id for r in rows}:
        exp = await store.get_experiment(exp_id)
        prelim[exp_id] = exp is not None and preliminary(exp)
    if ctx.as_json:
        ctx.out_json([{**r.to_dict(), "preliminary": prelim.get(r.experiment_id, False)} for r in rows])
        return 0
    if not rows:
        ctx.out("no findings yet: the validator writes them when it rates an experiment")
        return 0
    for r in rows:
        mark = " (preliminary: smoke or too few seeds, not a finding)" if prelim.get(r.experiment_id) else ""
        ctx.out(f"[{r.kind}]{mark} {r.text}")
    return 0
