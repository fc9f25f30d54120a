"""`lab open` (plain `lab`): the control room; `lab serve`: the same in a browser; `lab keys`."""

from __future__ import annotations

import argparse
import os
import sys

from cli.commands.common import add_json, table
from cli.context import CommandError, Context


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    o = sub.add_parser("open", help="open the control room (plain `lab` does this)")
    o.add_argument("--readonly", action="store_true",
                   help="watch only: every changing action is refused (for shared screens)")
    o.set_defaults(func=open_room)

    s = sub.add_parser("serve", help="the control room in a browser, on 127.0.0.1 (use an SSH tunnel)")
    s.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on: loopback only (default 127.0.0.1) "
                   "unless --allow-remote")
    s.add_argument("--allow-remote", action="store_true",
                   help="let --host be a non-loopback address (anyone who reaches it drives the lab)")
    s.add_argument("--readonly", action="store_true", help="every changing action is refused")
    s.set_defaults(func=serve)

    k = sub.add_parser("keys", help="the control room's key bindings and their ids (to remap them)")
    add_json(k)
    k.set_defaults(func=list_keys)


async def open_room(args: argparse.Namespace, ctx: Context) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()) and not os.environ.get("TEXTUAL_DRIVER"):
        raise CommandError("the control room needs a terminal; use `lab status` or `lab queue` in scripts", 2)
    from tui.app import ControlRoomApp
    from tui.startup import trace

    trace("imported")
    app = ControlRoomApp(ctx.lab, readonly=args.readonly)
    await app.run_async()
    if app.exit_note:
        print(app.exit_note, file=sys.stderr)
    return app.return_code or 0


async def serve(args: argparse.Namespace, ctx: Context) -> int:
    from tui.serve import RemoteRefusedError, check_host

    if not 1 <= args.port <= 65535:
        raise CommandError(f"--port must be 1..65535, got {args.port}", 2)
    try:
        host = check_host(args.host, args.allow_remote)
    except RemoteRefusedError as exc:
        raise CommandError(str(exc), 2) from None
    argv = [sys.executable, "-m", "tui.serve", "--dir", str(ctx.lab.root), "--port", str(args.port), "--host", host]
    if args.allow_remote:
        argv.append("--allow-remote")
    if args.readonly:
        argv.append("--readonly")
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # the server owns this process from here (Ctrl+C stops it)
    return 0  # pragma: no cover


async def list_keys(args: argparse.Namespace, ctx: Context) -> int:
    from tui import keys
    from tui.ui_settings import load_ui_settings

    settings = load_ui_settings(ctx.lab)
    shown = [(k, keys.keys_for(k.id, settings.keymap)) for k in keys.ALL.values()]
    if ctx.as_json:
        ctx.out_json([{"id": k.id, "keys": bound, "default": k.keys, "description": k.description, "help": k.help,
                       "changes": k.changes} for k, bound in shown])
        return 0
    for problem in settings.problems:
        print(f"lab: {problem}", file=sys.stderr)
    ctx.out(table([[k.id, keys.display_keys(bound), k.description, k.help] for k, bound in shown],
                         ["id", "keys", "action", "what it does"]))
    ctx.out("\nremap in the lab's config.toml ([keys] \"id\" = \"key\") or in "
            f"{keys.user_keymap_path()} ($JOULELAB_KEYMAP)")
    return 0
