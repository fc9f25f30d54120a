"""The base of the control room's dialogs (confirm, prompt, choice, forms, lab missing)."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen

from tui import keys

T = TypeVar("T")


class LabModal(ModalScreen[T]):
    KEY_SCOPES: tuple[list[keys.Key], ...] = ()
