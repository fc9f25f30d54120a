"""A form of catalog parameters: each field shows the parameter's help and range, and its
problem right under it (checked against the catalog as you submit)."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Label, Static

from contract.catalog_answer import CatalogEntry
from contract.params import Param
from tui.params import value_text


class ParamField(Vertical):
    def __init__(self, param: Param, value: object) -> None:
        super().__init__(classes="param-field", id=f"field-{param.name}")
        self.param = param
        self.value = value

    def compose(self) -> ComposeResult:
        p = self.param
        # the catalog's words as text: a name or a choice with brackets is never read as markup
        yield Label(Content.assemble((p.name, "bold"), "  ", (f"{p.type}, {p.describe_range()}", "dim")),
                    classes="param-label")
        yield Input(value_text(p, self.value), id=f"param-{p.name}", classes="param-input",
                    placeholder=value_text(p, p.default) or p.describe_range())
        if p.help:
            yield Static(p.help, classes="param-help", markup=False)
        yield Static("", classes="param-error", markup=False)

    @property
    def text(self) -> str:
        return self.query_one(Input).value

    def set_error(self, message: str | None) -> None:
        error = self.query_one(".param-error", Static)
        error.update(f"✗ {message}" if message else "")
        error.display = bool(message)
        self.set_class(bool(message), "-invalid")


class ParamForm(VerticalScroll):
    """Fields for every parameter of a catalog entry, filled with `values` (else the defaults)."""

    def __init__(self, entry: CatalogEntry, values: Mapping[str, object] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.entry = entry
        self.values = values or {}

    def compose(self) -> ComposeResult:
        for p in self.entry.params:
            yield ParamField(p, self.values.get(p.name, p.default))

    def texts(self) -> dict[str, str]:
        return {f.param.name: f.text for f in self.query(ParamField)}

    def show_errors(self, errors: dict[str, str]) -> None:
        first: ParamField | None = None
        for f in self.query(ParamField):
            message = errors.get(f.param.name)
            f.set_error(message)
            if message and first is None:
                first = f
        if first is not None:
            first.query_one(Input).focus()
            self.scroll_to_widget(first, animate=False)
