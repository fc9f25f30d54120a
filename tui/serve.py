"""`lab serve`: the control room in a browser through textual-serve, bound to 127.0.0.1 only.

Each browser tab runs its own `lab open` process; reach it from another machine with an SSH
tunnel (`ssh -L 8000:127.0.0.1:8000 gpu-box`), never by opening the port.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from engine.labdir import LabDir

HOST = "127.0.0.1"


def command(lab: LabDir, readonly: bool) -> str:
    parts = [sys.executable, "-m", "tui.cli", "--dir", str(lab.root), "open"]
    if readonly:
        parts.append("--readonly")
    return shlex.join(parts)


def build_server(lab: LabDir, port: int, readonly: bool):  # type: ignore[no-untyped-def]
    from textual_serve.server import Server

    return Server(command(lab, readonly), host=HOST, port=port, title=f"Joule Lab · {lab.root.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.serve")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--readonly", action="store_true")
    args = parser.parse_args(argv)
    lab = LabDir.resolve(args.dir)
    print(f"the control room of {lab.root} on http://{HOST}:{args.port} (this machine only; from elsewhere: "
          f"ssh -L {args.port}:{HOST}:{args.port} <this host>)", flush=True)
    build_server(lab, args.port, args.readonly).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
