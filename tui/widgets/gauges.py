"""Gauges: CPU and memory, each GPU (none shown without GPUs), energy today and in total (kWh
and CO2, marked when estimated), and the LLM spend."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.widget import Widget

from tui import format as fmt
from tui.data import Energy, Gauges


class GaugePanel(Widget):
    COMPONENT_CLASSES = {"gauges--label", "gauges--bar", "gauges--hot", "gauges--dim", "gauges--est"}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.gauges = Gauges()

    def show(self, gauges: Gauges) -> None:
        if gauges != self.gauges:
            lines_before = self.line_count()
            self.gauges = gauges
            if self.line_count() != lines_before:
                self.styles.height = self.line_count()
            self.refresh()

    def line_count(self) -> int:
        return 2 + len(self.gauges.gpus)

    def on_mount(self) -> None:
        self.styles.height = self.line_count()

    def _bar(self, text: Text, label: str, fraction: float | None, width: int, value: str) -> None:
        style = partial(self.get_component_rich_style, partial=True)
        hot = fraction is not None and fraction >= 0.9
        text.append(label, style=style("gauges--label"))
        text.append("▕")
        text.append(fmt.bar(fraction, width), style=style("gauges--hot" if hot else "gauges--bar"))
        text.append("▏")
        text.append(value)

    def render(self) -> Text:
        g, width = self.gauges, self.size.width
        style = partial(self.get_component_rich_style, partial=True)
        out = Text(no_wrap=True, overflow="ellipsis")
        if not g.loaded:
            out.append("reading the lab…", style=style("gauges--dim"))
            return out
        bar_w = 10 if width < 100 else 20
        cpu = None if g.cpu_pct is None else g.cpu_pct / 100
        self._bar(out, "CPU ", cpu, bar_w, f" {fmt.percent(cpu, 0):>5}")
        out.append("   ")
        mem = g.mem_used / g.mem_total if g.mem_used is not None and g.mem_total else None
        self._bar(out, "MEM ", mem, bar_w, f" {fmt.size(g.mem_used)} / {fmt.size(g.mem_total)}")
        if g.sampled_at is None:
            out.append("   (no sample yet: is the engine up?)", style=style("gauges--dim"))
        for gpu in g.gpus:
            out.append("\n")
            util = None if gpu.util_pct is None else gpu.util_pct / 100
            name = gpu.name if width >= 110 else ""
            self._bar(out, f"GPU{gpu.index} ", util, bar_w, f" {fmt.percent(util, 0):>5}")
            gmem = gpu.mem_used / gpu.mem_total if gpu.mem_used is not None and gpu.mem_total else None
            out.append("  ")
            self._bar(out, "mem ", gmem, max(4, bar_w // 2), f" {fmt.size(gpu.mem_used)} / {fmt.size(gpu.mem_total)}")
            out.append(f"  {'-' if gpu.power_w is None else f'{gpu.power_w:.0f} W'}")
            temp = "-" if gpu.temp_c is None else f"{gpu.temp_c:.0f} °C"
            out.append(f"  {temp}", style=style("gauges--hot") if (gpu.temp_c or 0) >= 85 else "")
            if name:
                out.append(f"  {name}", style=style("gauges--dim"))
        out.append("\n")
        self._energy(out, "today ", g.today)
        out.append("  ")
        self._energy(out, "total ", g.total)
        out.append("  ")
        out.append("LLM ", style=style("gauges--label"))
        out.append(f"{fmt.usd(g.usd_today)} today, {fmt.usd(g.usd_total)} total")
        return out

    def _energy(self, out: Text, label: str, e: Energy) -> None:
        style = partial(self.get_component_rich_style, partial=True)
        out.append(label, style=style("gauges--label"))
        out.append(f"{fmt.energy(e.kwh)} {fmt.co2(e.co2_kg)}")
        if e.estimated:
            out.append(" est.", style=style("gauges--est"))
