"""`lab roadmap` (where the lab stands against its roadmap) and `lab publish` (the publication
bundle: compiled paper and arXiv source, blog post, slides, model zoo with cards, notebooks)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from cli.commands.common import add_json
from cli.context import CommandError, Context
from contract import units
from contract.publication import Pushed


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("roadmap", help="the roadmap's four phases with each success criterion evaluated from the "
                                       "lab's records (evidence, what would meet it) and the metrics it tracks")
    add_json(r)
    r.set_defaults(func=roadmap)

    p = sub.add_parser("publish", help="the publication bundle from the counted findings: compiled paper and its "
                                       "arXiv source, blog post, slides, model zoo with model cards, notebooks")
    p.add_argument("--out", default=None, help="folder to write (default <lab>/publish)")
    p.add_argument("--push", metavar="ORG", default=None, help="also upload the model zoo to the Hugging Face Hub "
                   "as ORG/<model> (needs a token: HF_TOKEN or `hf auth login`)")
    add_json(p)
    p.set_defaults(func=publish)


async def roadmap(args: argparse.Namespace, ctx: Context) -> int:
    from records.roadmap_report import lines, read, to_json

    r = await read(await ctx.store(), ctx.lab)
    if ctx.as_json:
        ctx.out_json(to_json(r))
    else:
        for line in lines(r):
            ctx.out(line)
    return 0


async def publish(args: argparse.Namespace, ctx: Context) -> int:
    from records.publish.bundle import PublishError, record
    from records.publish.bundle import publish as build
    from records.publish.push import PushError, check, push

    if args.push is not None:  # refused before anything is built: the token and the Hub first
        try:
            await asyncio.to_thread(check, args.push)
        except PushError as exc:
            raise CommandError(str(exc), 2) from None
    out = (Path(args.out).expanduser() if args.out else ctx.lab.publish).resolve()
    try:
        pub = await build(await ctx.store(), ctx.catalog, ctx.lab, out, namespace=args.push or "joulelab")
    except PublishError as exc:
        raise CommandError(str(exc), 2) from None
    if args.push is not None and pub.models:
        try:
            repos = await asyncio.to_thread(push, out / "zoo", args.push, pub.models)
            pub.pushed = Pushed(args.push, tuple(repos))
        except PushError as exc:
            pub.problems.append(str(exc))
    record(ctx.lab, pub)
    if ctx.as_json:
        ctx.out_json(pub.record().to_json())
    else:
        ctx.out(f"published {len(pub.experiments)} counted experiment(s), {len(pub.findings)} headline finding(s), "
                f"{len(pub.models)} model(s) to {out} in {units.duration(pub.seconds)}")
        for part, path in pub.files.items():
            if not part.startswith("notebook:"):
                ctx.out(f"  {part:<10} {out / path}")
        if pub.pushed:
            ctx.out("  pushed     " + ", ".join(pub.pushed.repos))
        for problem in pub.problems:
            ctx.out(f"  not done: {problem}")
    return 1 if pub.problems else 0
