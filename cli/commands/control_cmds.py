"""`lab approve|reject|cancel|retry|priority|pause|resume`: requests the engine carries out."""

from __future__ import annotations

import argparse

from cli.context import Context
from contract import requests as rq


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("approve", help="approve a waiting experiment: its runs are queued")
    p.add_argument("id", type=int, help="experiment id")
    p.set_defaults(func=approve)

    p = sub.add_parser("reject", help="reject a waiting experiment, with a reason the researcher reads")
    p.add_argument("id", type=int, help="experiment id")
    p.add_argument("-r", "--reason", default="", help="why (the research agents read it)")
    p.set_defaults(func=reject)

    p = sub.add_parser("cancel", help="cancel an experiment (its queued and running runs) or one run")
    p.add_argument("id", type=int, help="experiment id (or run id with --run)")
    p.add_argument("--run", action="store_true", help="the id is a run id")
    p.add_argument("-r", "--reason", default="", help="why")
    p.set_defaults(func=cancel)

    p = sub.add_parser("retry", help="queue the failed, cancelled or timed-out runs of an experiment again")
    p.add_argument("id", type=int, help="experiment id")
    p.set_defaults(func=retry)

    p = sub.add_parser("priority", help="change an experiment's priority (higher runs first)")
    p.add_argument("id", type=int, help="experiment id")
    p.add_argument("priority", type=int, help="the new priority")
    p.set_defaults(func=priority)

    p = sub.add_parser("pause", help="pause the queue: running runs go on, no new run starts")
    p.set_defaults(func=lambda args, ctx: simple(ctx, rq.Pause()))
    p = sub.add_parser("resume", help="resume the queue")
    p.set_defaults(func=lambda args, ctx: simple(ctx, rq.Resume()))


async def simple(ctx: Context, request: rq.Request) -> int:
    ctx.out(await ctx.request(request))
    return 0


async def approve(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out(await ctx.request(rq.Approve(args.id)))
    return 0


async def reject(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out(await ctx.request(rq.Reject(args.id, args.reason or "rejected from the command line")))
    return 0


async def cancel(args: argparse.Namespace, ctx: Context) -> int:
    reason = args.reason or "cancelled from the command line"
    ctx.out(await ctx.request(rq.CancelRun(args.id, reason) if args.run else rq.Cancel(args.id, reason)))
    return 0


async def retry(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out(await ctx.request(rq.Retry(args.id)))
    return 0


async def priority(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out(await ctx.request(rq.Priority(args.id, args.priority)))
    return 0
