"""The `lab` command line: headless access to everything the control room does.

`lab` with no arguments opens the control room; every subcommand is registered by a module of
`cli.commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import traceback

from cli.commands import command_modules
from cli.context import CommandError, Context


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line with a hint, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `command` alone when it is a known one (only its module is imported), else
    of every command."""
    parser = ArgumentParser(prog="lab", description="Joule Lab: an autonomous research lab for "
                            "energy-efficient machine learning.")
    parser.add_argument("--dir", default=None, help="lab directory (default ./lab, or $JOULELAB_DIR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for module in command_modules(command):
        module.register(sub)
    return parser


def command_word(words: list[str]) -> str | None:
    """The command named in `words` (the first word that is not `--dir` or its value); None when
    there is none or an option comes first (`lab --help`)."""
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--dir":
            skip = True
        elif word.startswith("--dir="):
            continue
        elif word.startswith("-"):
            return None
        else:
            return word
    return None


async def _dispatch(args: argparse.Namespace, ctx: Context) -> int:
    try:
        code = await args.func(args, ctx)
        return int(code or 0)
    finally:
        await ctx.close()


def main(argv: list[str] | None = None) -> int:
    from contract.layout import LabDir

    words = sys.argv[1:] if argv is None else argv
    args = build_parser(command_word(words)).parse_args(words)
    if args.command is None:  # plain `lab` opens the control room
        args = build_parser("open").parse_args([*words, "open"])
    ctx = Context(LabDir.resolve(args.dir), as_json=getattr(args, "as_json", False))
    try:
        return asyncio.run(_dispatch(args, ctx))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        return _failed(exc, ctx)


def _failed(exc: Exception, ctx: Context) -> int:
    """Say in one line why the command failed; its exit status."""
    code = _refused(exc)
    if code is not None:
        return code
    if isinstance(exc, sqlite3.Error):  # locked past the busy timeout, disk full, corrupt file
        print(f"lab: the lab database {ctx.lab.db} cannot be used: {exc} (nothing was changed; "
              "free disk space or try again)", file=sys.stderr)
        return 1
    if isinstance(exc, OSError):
        print(f"lab: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    # a bug: one line for the user, the details in a file
    crash = ctx.lab.root / "crash.log" if ctx.lab.root.exists() else None
    if crash is not None:
        with open(crash, "a") as fh:
            traceback.print_exception(exc, file=fh)
    where = f"; details in {crash}" if crash else ""
    print(f"lab: internal error: {exc!r}{where}", file=sys.stderr)
    return 1


def _refused(exc: Exception) -> int | None:
    """The lab's own refusals (a bad job, parameters, command, setting, id or transition),
    said as they are; None for anything else."""
    from contract.config import ConfigError
    from db import DatabaseError, IllegalTransitionError, NotFoundError
    from science.catalog import CatalogError, InvalidParamsError
    from science.jobs import JobError

    if isinstance(exc, JobError):
        print(str(exc), file=sys.stderr)
        return 2
    if isinstance(exc, InvalidParamsError):
        for param, message in exc.errors:
            print(f"lab: {param}: {message}" if param else f"lab: {message}", file=sys.stderr)
        return 2
    if isinstance(exc, CommandError):
        print(f"lab: {exc}", file=sys.stderr)
        return exc.code
    if isinstance(exc, (ConfigError, CatalogError, DatabaseError, NotFoundError, IllegalTransitionError)):
        print(f"lab: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, (ConfigError, NotFoundError)) else 1
    return None

