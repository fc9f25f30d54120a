"""Component styles (set in the .tcss files) looked up once per theme, not at every redraw."""

from __future__ import annotations

from typing import Any

from rich.style import Style


class ComponentStyles:
    """Mixin for widgets that paint Rich text with their COMPONENT_CLASSES."""

    _style_cache: dict[tuple[str, str], Style]

    def cstyle(self, name: str) -> Style:
        widget: Any = self
        key = (name, widget.app.theme)
        cache: dict[tuple[str, Any], Style] = self.__dict__.setdefault("_style_cache", {})
        style = cache.get(key)
        if style is None:
            style = cache[key] = widget.get_component_rich_style(name, partial=True)
        return style
