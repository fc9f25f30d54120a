"""What every `lab` command works with: the lab directory, its store, the catalog, the engine."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contract import requests as rq
from contract import units
from contract.layout import LabDir
from db import Store
from db.rows import Row
from engine import control

if TYPE_CHECKING:  # imported where used: a command that needs neither does not pay for them
    from science.catalog import Catalog
    from tui.client import LabClient


class CommandError(Exception):
    """A command that cannot do what was asked; `code` is the exit status (2: bad input)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


REQUEST_WAIT_S = 15.0


@dataclass
class Context:
    lab: LabDir
    as_json: bool = False
    _store: Store | None = field(default=None, repr=False)
    _catalog: Catalog | None = field(default=None, repr=False)

    async def store(self) -> Store:
        if self._store is None:
            self.lab.ensure()
            self._store = await Store.open(self.lab.db)
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from science.catalog import Catalog

            self._catalog = Catalog()
        return self._catalog

    async def client(self) -> LabClient:
        from tui.client import LabClient

        return LabClient(self.lab, await self.store(), "cli")

    def out(self, text: str = "") -> None:
        print(text)

    def out_json(self, value: Any) -> None:
        print(json.dumps(value, indent=2, sort_keys=True, default=_plain))

    def ensure_engine(self) -> int:
        """The engine's pid, starting a detached one when none runs (and saying so, on stderr:
        it outlives the command)."""
        running = control.engine_pid(self.lab)
        if running:
            return running
        try:
            pid = control.start_detached(self.lab)
        except control.EngineError as exc:
            raise CommandError(str(exc)) from None
        print(f"started the engine of {self.lab.root} (pid {pid}) to carry this out; it keeps running after this "
              "command (`lab engine stop` stops it)", file=sys.stderr, flush=True)
        return pid

    async def request(self, request: rq.Request) -> str:
        """Write a request row (typed and checked: contract.requests), make sure an engine is there
        to act, and wait for its answer."""
        try:
            typed = rq.make(request)
        except rq.InvalidRequestError as exc:
            raise CommandError(str(exc)) from None
        client = await self.client()
        req_id = await client.send(typed)
        self.ensure_engine()
        answer = await client.answer(req_id, REQUEST_WAIT_S)
        if answer.pending:
            raise CommandError(f"the engine has not answered request {req_id} within {units.duration(REQUEST_WAIT_S)}; "
                               f"it stays queued (see {self.lab.log})")
        if not answer.ok:
            raise CommandError(answer.message)
        return answer.message


def _plain(value: object) -> object:
    """What JSON cannot hold as it is: a store row as its columns, anything else as its text."""
    return value.to_dict() if isinstance(value, Row) else str(value)
