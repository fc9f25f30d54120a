"""`lab list`: the experiment catalog with its parameters and defaults."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from cli.commands.common import add_json
from cli.context import Context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("list", help="the experiment catalog, with parameters and defaults")
    p.add_argument("experiment", nargs="?", help="show one entry in full")
    add_json(p)
    p.set_defaults(func=list_catalog)


async def list_catalog(args: argparse.Namespace, ctx: Context) -> int:
    catalog = ctx.catalog
    entries = [catalog.get(args.experiment)] if args.experiment else [catalog.entries()[n] for n in catalog.names()]
    if ctx.as_json:
        ctx.out_json([asdict(e) for e in entries])
        return 0
    for entry in entries:
        ctx.out(f"{entry.name}  ({entry.area}, gain in {entry.gain_phase}) - {entry.title}")
        if entry.summary:
            ctx.out(f"    {entry.summary}")
        for p in entry.params:
            default = json.dumps(p.default)
            ctx.out(f"    -p {p.name}={default}  [{p.describe_range()}]  {p.help}".rstrip())
        if args.experiment:
            ctx.out(f"  baseline variant: {entry.baseline}")
            ctx.out(f"  literature: {entry.literature}")
            for ref in entry.references:
                ctx.out(f"    - {ref}")
        ctx.out()
    return 0
