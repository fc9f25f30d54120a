"""`lab engine run|start|stop|status|warm`."""

from __future__ import annotations

import argparse

from cli.commands.common import add_json
from cli.context import CommandError, Context
from contract import requests as rq
from engine import control


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("engine", help="the engine daemon: run (foreground), start (detached), stop, status; "
                                      "warm: start its warm worker ahead of a run")
    p.add_argument("action", choices=["run", "start", "stop", "status", "warm"],
                   help="run: in the foreground (systemd, tmux); start: in the background; stop; status; "
                        "warm: start the warm worker now (it exits after [executor] warm_idle_s without work)")
    add_json(p)
    p.set_defaults(func=engine)


async def engine(args: argparse.Namespace, ctx: Context) -> int:
    lab = ctx.lab
    if args.action == "run":
        # the engine owns this process until SIGTERM/SIGINT; it opens its own store
        return await control.serve_foreground(lab)
    if args.action == "start":
        already = control.engine_pid(lab)
        pid = ctx.ensure_engine()
        ctx.out(f"engine {'already ' if already else ''}running for {lab.root} (pid {pid})")
        return 0
    if args.action == "warm":
        ctx.out(await ctx.request(rq.Warm()))
        return 0
    if args.action == "stop":
        try:
            stopped = control.stop(lab)
        except control.EngineError as exc:
            raise CommandError(str(exc)) from None
        ctx.out(f"engine stopped (pid {stopped}); runs keep going and are re-attached at the next start"
                if stopped else "no engine is running for this lab")
        return 0
    status = await control.engine_status(lab, await ctx.store())
    if ctx.as_json:
        ctx.out_json(status.__dict__)
    else:
        ctx.out(status.describe())
    return 0 if status.running else 3
