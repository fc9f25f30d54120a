"""The command palette's source of commands: the app's system commands, shown as plain text.

Textual's own provider reads every command title and help text as content markup, so a title
such as `Filter [/]` (or an experiment name, a catalog entry or any text with brackets) ends the
app with a MarkupError. Here titles and help texts are literal `Content`, and the fuzzy match is
highlighted at the offsets of the text as the user sees it.
"""

from __future__ import annotations

from textual.command import DiscoveryHit, Hit, Hits
from textual.content import Content
from textual.fuzzy import Matcher
from textual.system_commands import SystemCommandsProvider


def literal(text: str | Content | None) -> Content | None:
    """`text` as content that is never parsed as markup."""
    if text is None or isinstance(text, Content):
        return text
    return Content(text)


def highlight(matcher: Matcher, candidate: str) -> Content:
    """The candidate as literal text, its fuzzy matches in the matcher's style."""
    content = Content(candidate)
    score, offsets = matcher.fuzzy_search.match(matcher.query, candidate)
    if not score:
        return content
    for offset in offsets:
        if not candidate[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class LiteralCommandsProvider(SystemCommandsProvider):
    """SystemCommandsProvider whose titles and help texts are shown literally."""

    async def discover(self) -> Hits:
        commands = sorted(self.app.get_system_commands(self.screen), key=lambda command: command[0])
        for name, help_text, callback, discover in commands:
            if discover:
                yield DiscoveryHit(Content(name), callback, text=name,
                                   help=literal(help_text))  # type: ignore[arg-type]  # Content is shown as is

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback, *_ in self.app.get_system_commands(self.screen):
            if (match := matcher.match(name)) > 0:
                yield Hit(match, highlight(matcher, name), callback, text=name,
                          help=literal(help_text))  # type: ignore[arg-type]
