"""`lab serve`: the control room in a browser through textual-serve, bound to a loopback address.

Each browser tab runs its own `lab open` process; reach it from another machine with an SSH
tunnel (`ssh -L 8000:127.0.0.1:8000 gpu-box`, or to any other local port: the page's URLs, its
script, styles, font and websocket, are relative to where the browser reached it, and nothing is
fetched from elsewhere). Anything but a loopback address is refused unless
`--allow-remote` says so: the page drives the lab (approve, cancel, start runs) with no login.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import socket
import sys
from pathlib import Path

from contract.layout import LabDir

HOST = "127.0.0.1"
PAGE = Path(__file__).parent / "serve_page"  # textual-serve's page with relative URLs and its font served here


class RemoteRefusedError(ValueError):
    """A non-loopback address without --allow-remote."""


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback one (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)


def check_host(host: str, allow_remote: bool) -> str:
    """The host to bind; RemoteRefusedError (its message one line) for a non-loopback one."""
    if not host.strip():
        raise RemoteRefusedError("--host is empty: give an address such as 127.0.0.1")
    if is_loopback(host) or allow_remote:
        return host
    raise RemoteRefusedError(f"--host {host} is not a loopback address: the browser view drives the lab without a "
                        f"login, so it listens on {HOST} (reach it with `ssh -L 8000:{HOST}:8000 <this host>`); "
                        "add --allow-remote to listen on it anyway")


def command(lab: LabDir, readonly: bool) -> str:
    parts = [sys.executable, "-m", "cli", "--dir", str(lab.root), "open"]
    if readonly:
        parts.append("--readonly")
    return shlex.join(parts)


def build_server(lab: LabDir, port: int, readonly: bool, host: str = HOST):  # type: ignore[no-untyped-def]
    from textual_serve.server import Server

    return Server(command(lab, readonly), host=host, port=port, title=f"Joule Lab · {lab.root.name}",
                  templates_path=PAGE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.serve")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--allow-remote", action="store_true")
    parser.add_argument("--readonly", action="store_true")
    args = parser.parse_args(argv)
    try:
        host = check_host(args.host, args.allow_remote)
    except RemoteRefusedError as exc:
        print(f"lab serve: {exc}", file=sys.stderr)
        return 2
    lab = LabDir.resolve(args.dir)
    where = (f"this machine only; from elsewhere: ssh -L {args.port}:{host}:{args.port} <this host>"
             if is_loopback(host) else "reachable from other machines: anyone who can reach it drives the lab")
    print(f"the control room of {lab.root} on http://{host}:{args.port} ({where})", flush=True)
    build_server(lab, args.port, args.readonly, host).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
