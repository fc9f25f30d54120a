"""`[llm.sandbox] allow_unsandboxed = true` lets generated code run without a sandbox: the control
room says so in red on its status line, at every width, for as long as the setting holds."""

from __future__ import annotations

from contract.layout import LabDir
from tests.tui.support import ready
from tui.widgets.status_line import StatusLine


def marker(app) -> list[str]:  # type: ignore[no-untyped-def]
    """The status line's text, and the style of its unsandboxed segment ("" when absent)."""
    line = app.screen.query_one(StatusLine)
    text = line.render()
    spans = [str(span.style) for span in text.spans if "UNSANDBOXED" in text.plain[span.start:span.end]]
    return [text.plain, spans[0] if spans else ""]


async def test_unsandboxed_code_allowed_is_shown_in_red(lab: LabDir, app_factory) -> None:  # type: ignore[no-untyped-def]
    text = lab.config.read_text()
    assert "allow_unsandboxed = false" in text  # the default config.toml names the setting
    lab.config.write_text(text.replace("allow_unsandboxed = false", "allow_unsandboxed = true"))
    for size in ((160, 40), (80, 24)):
        app = app_factory(lab)
        async with app.run_test(size=size) as pilot:
            await ready(pilot)
            text, style = marker(app)
            assert "UNSANDBOXED code" in text, (size, text)
            assert "red" in style or "#" in style, style  # the error colour, whatever the theme names it
            assert style == str(app.screen.query_one(StatusLine).cstyle("status-line--down"))  # as ENGINE DOWN


async def test_no_marker_while_generated_code_needs_its_sandbox(lab: LabDir, app_factory) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert "UNSANDBOXED" not in marker(app)[0]
