"""The base of the control room's dialogs (confirm, prompt, choice, forms, lab missing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from textual.screen import ModalScreen

from tui import keys

if TYPE_CHECKING:
    from tui.app import ControlRoomApp

T = TypeVar("T")


class LabModal(ModalScreen[T]):
    KEY_SCOPES: tuple[list[keys.Key], ...] = ()

    @property
    def lab_app(self) -> ControlRoomApp:
        return self.app  # type: ignore[return-value]
