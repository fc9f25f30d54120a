"""Gauges: CPU and memory, each GPU (none shown without GPUs), energy today and in total (kWh
and CO2, marked when estimated), and the LLM spend.

Each line is its own small widget, so a new CPU reading repaints that line only."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.containers import Vertical
from textual.geometry import Region
from textual.widget import Widget

from contract import units
from tui.reader import Energy, Gauges
from tui.widgets.line_diff import changed_spans
from tui.widgets.styling import ComponentStyles
from tui.widgets.table_cells import bar


class GaugeLine(Widget):
    """One line of the gauges; only the cells that changed are repainted (a new CPU reading: its
    bar and its value)."""

    def __init__(self) -> None:
        super().__init__(classes="gauge-line")
        self.text = Text()

    def set(self, text: Text) -> None:
        if text != self.text:
            width = self.size.width
            spans = changed_spans(self.text, text, width) if width else None  # None: not laid out yet
            self.text = text
            if spans is None:
                self.refresh()
            elif spans:
                self.refresh(*(Region(x1, 0, x2 - x1, 1) for x1, x2 in spans))

    def render(self) -> Text:
        return self.text


class GaugePanel(ComponentStyles, Vertical):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"gauges--label", "gauges--bar", "gauges--hot", "gauges--dim", "gauges--est"}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.gauges = Gauges()

    def on_mount(self) -> None:
        self._apply()

    def on_resize(self) -> None:
        self._apply()

    def show(self, gauges: Gauges) -> None:
        if gauges != self.gauges:
            self.gauges = gauges
            self._apply()

    def _apply(self) -> None:
        lines = self.build_text().split("\n")
        views = [child for child in self.children if isinstance(child, GaugeLine)]
        if len(views) != len(lines):
            for view in views[len(lines):]:
                view.remove()
            views = views[:len(lines)]
            extra = [GaugeLine() for _ in range(len(lines) - len(views))]
            if extra:
                self.mount_all(extra)
            views += extra
            self.styles.height = len(lines)
        for view, line in zip(views, lines):
            view.set(line)

    def _bar(self, text: Text, label: str, fraction: float | None, width: int, value: str) -> None:
        style = self.cstyle
        hot = fraction is not None and fraction >= 0.9
        text.append(label, style=style("gauges--label"))
        text.append("▕")
        text.append(bar(fraction, width), style=style("gauges--hot" if hot else "gauges--bar"))
        text.append("▏")
        text.append(value)

    def build_text(self) -> Text:
        g, width = self.gauges, self.size.width
        style = self.cstyle
        out = Text(no_wrap=True, overflow="ellipsis")
        if not g.loaded:
            out.append("reading the lab…", style=style("gauges--dim"))
            return out
        bar_w = 10 if width < 100 else 20
        cpu = None if g.cpu_pct is None else g.cpu_pct / 100
        self._bar(out, "CPU ", cpu, bar_w, f" {units.percent(cpu, 0):>5}")
        out.append("   ")
        mem = g.mem_used / g.mem_total if g.mem_used is not None and g.mem_total else None
        self._bar(out, "MEM ", mem, bar_w, f" {units.size(g.mem_used)} / {units.size(g.mem_total)}")
        if g.sampled_at is None:
            out.append("   (no sample yet: is the engine up?)", style=style("gauges--dim"))
        for gpu in g.gpus:
            out.append("\n")
            util = None if gpu.util_pct is None else gpu.util_pct / 100
            name = gpu.name if width >= 110 else ""
            self._bar(out, f"GPU{gpu.index} ", util, bar_w, f" {units.percent(util, 0):>5}")
            gmem = gpu.mem_used / gpu.mem_total if gpu.mem_used is not None and gpu.mem_total else None
            out.append("  ")
            self._bar(out, "mem ", gmem, max(4, bar_w // 2), f" {units.size(gpu.mem_used)} / {units.size(gpu.mem_total)}")
            out.append(f"  {units.power(gpu.power_w)}")
            out.append(f"  {units.temperature(gpu.temp_c)}", style=style("gauges--hot") if (gpu.temp_c or 0) >= 85 else "")
            if name:
                out.append(f"  {name}", style=style("gauges--dim"))
        out.append("\n")
        self._energy(out, "today ", g.today)
        out.append("  ")
        self._energy(out, "total ", g.total)
        out.append("  ")
        out.append("LLM ", style=style("gauges--label"))
        out.append(f"{units.usd(g.usd_today)} today, {units.usd(g.usd_total)} total")
        return out

    def _energy(self, out: Text, label: str, e: Energy) -> None:
        style = self.cstyle
        out.append(label, style=style("gauges--label"))
        out.append(f"{units.energy(e.kwh)} {units.co2(e.co2_kg)}")
        if e.estimated:
            out.append(" mod.", style=style("gauges--est"))  # modelled from CPU time: no hardware counter
