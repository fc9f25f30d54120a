"""What a screen of the control room works with: the session, one plain typed object the app
builds and hands to every screen it opens (and each screen to the screens it opens).

A screen reads the lab through `reader` (None until the lab is open), sends what changes it through
`actions` (typed requests, contract/requests.py), shows `status` (the app replaces it at each
refresh) and follows `settings`; what it asks of the app itself (a refresh now, a sprint) is a
typed message (tui/messages.py). No screen imports the app or reaches into it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contract.layout import LabDir
from db import Store
from tui.actions import Actions
from tui.clock import Clock
from tui.reader import LabReader, Status
from tui.ui_settings import UISettings

if TYPE_CHECKING:
    from science.catalog import Catalog


@dataclass
class Session:
    lab: LabDir
    settings: UISettings
    actions: Actions
    catalog: Callable[[], Awaitable[Catalog]]  # the catalog, asked of the programs once (tui/catalog_once.py)
    clock: Clock
    status: Status
    store: Store | None = None       # the open lab's store (None until the lab is open)
    reader: LabReader | None = None  # its reader for the screens
    sprint_since: float | None = None  # a sprint asked from here is running since (clock time)

    @property
    def readonly(self) -> bool:
        return self.actions.readonly

    def refusal(self, what: str) -> str | None:
        """Why `what` is refused (read-only mode), or None when it may be done."""
        return self.actions.refusal(what)


def allowed(session: Session, notify: Callable[..., object], what: str) -> bool:
    """False, and says why through `notify`, when `what` is refused (read-only mode)."""
    refused = session.refusal(what)
    if refused is not None:
        notify(refused, title="read-only", severity="warning")
    return refused is None
