"""One way to write a number with its unit: the control room, the command line, the agents'
sentences and the reports all ask contract.units, the one formatter (issue 23), and a missing
value is written one way everywhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from contract import limits, quantities, units

ROOT = Path(__file__).resolve().parents[2]
ENERGIES = [5e-7, 1e-6, 2.5e-5, 9.9996e-4, 0.0123, 0.99998, 1.5, 1234.0]

#: the writers of contract.units that a room once copied (tui/format.py, agents/text.py, now science/text.py,
#: records/reports/fmt.py): a function of these names returning a string elsewhere is a second formatter
WRITERS = {"energy", "co2", "duration", "percent", "pct", "pct_ci", "ci_percent", "ci_points", "points", "times",
           "times_ci", "ratio", "ratio_interval", "pvalue", "p_equals", "power", "temperature", "num", "size", "usd",
           "when", "ago", "since", "clock_time",
           "percent_interval", "eta", "result_value", "mean_std", "interval", "change", "change_ci", "change_interval",
           "with_interval", "unit_of", "unit_scale", "energy_mark", "of", "summary_ci", "is_number", "unit_for"}
ROOMS = ("agents", "benchmarks", "contract", "db", "engine", "records", "tui", "cli", "science", "scripts")


def _second_formatters(path: Path, root: Path = ROOT) -> list[str]:
    """Functions of a writer's name that return a string (at any depth) and module-level names
    bound to a writer or to a missing mark."""
    tree = ast.parse(path.read_text())
    found = [f"{path.relative_to(root)}: def {node.name}" for node in ast.walk(tree)
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in WRITERS
             and node.returns is not None and ast.unparse(node.returns) == "str"]
    found += [f"{path.relative_to(root)}: {target.id} = ..." for node in tree.body if isinstance(node, ast.Assign)
              for target in node.targets if isinstance(target, ast.Name) and target.id in WRITERS | {"MISSING"}]
    return sorted(found)


def test_no_other_module_writes_numbers() -> None:
    for facade in ("tui/format.py", "science/text.py", "records/reports/fmt.py"):
        text = (ROOT / facade).read_text() if (ROOT / facade).exists() else ""
        assert "contract import units" not in text, f"{facade} is a façade over contract.units again"
    found = [hit for room in ROOMS if (ROOT / room).is_dir() for path in sorted((ROOT / room).rglob("*.py"))
             if path != ROOT / "contract" / "units.py" for hit in _second_formatters(path)]
    assert not found, "numbers are written by contract.units only:\n" + "\n".join(found)


def test_the_check_finds_a_second_formatter(tmp_path: Path) -> None:
    copy = tmp_path / "fmt.py"
    copy.write_text("MISSING = '-'\n\ndef pct_ci(ci) -> str:\n    return ''\n\ndef ratio(a, b) -> float:\n    return a / b\n")
    assert _second_formatters(copy, tmp_path) == ["fmt.py: MISSING = ...", "fmt.py: def pct_ci"]


#: a unit that a hand-formatted number would be followed by (`{x:.1f} %`, `{t:.0f} s`, `{n / 2**20:.0f} MiB`)
UNIT_AFTER = re.compile(r"^ ?(%|s|ms|min|h|days?|[KMGT]i?B|B|kWh|Wh|mWh|W|°C|x|points?|pt|ppl)(?![A-Za-z])")
#: a number scaled by hand to a byte or SI unit
SCALED = re.compile(r"2 ?\*\* ?(10|20|30|40)|\b1024\b|\b1e[369]\b|\b1_?000_?000\b")
#: a p-value written by hand: the text before it ("p = ", "adjusted p < "), or its name (p, p_adj, cost_p_value)
P_BEFORE = re.compile(r"\bp ?[=<] ?$")
P_NAME = re.compile(r"(^|\.)(p|p_\w+|\w+_p_value)$")
#: the blank marks a cell or a sentence once used instead of units.MISSING
BLANKS = {"-", "—", "–", "?", "N/A", "n.a.", "MISSING", ""}
#: files (or one expression of a file, "path: expression") whose numbers keep their hand formatting,
#: and why; everything else asks contract.units
HAND_FORMATTED = {
    # units.duration writes a sub-second backoff "0.0 s"; a retry 0.05 s away is said to 3 digits
    "agents/dialogue.py: retry_in_s": "the language model's retry delay, a fraction of a second, to 3 digits",
    "records/reports/summary.py: e.energy_kwh": "the exact total in kWh beside the readable one, to check sums by",
    # a benchmark prints its measurement at the fixed precision its recorded figures in BENCHMARKS.md are
    # compared at, side by side with earlier runs; it is a measuring tool, not an output of the lab
    "benchmarks/common.py": "the machine line of every recorded benchmark (GiB of RAM, as BENCHMARKS.md holds it)",
    "benchmarks/entry_tables.py": "the catalog results tables of BENCHMARKS.md (a relative change / a size per cell)",
    "benchmarks/gpu_check.py": "the GPU check's report, compared line by line with the recorded H100 run",
    "benchmarks/publish_time.py": "the publish benchmark's wall time, at the recorded precision",
    "benchmarks/tui_profile.py": "a profiler's trace: per-mille shares and KB/s at fixed width, for diffing two traces",
    "benchmarks/tui_idle_cpu.py": "the control room's idle targets, as BENCHMARKS.md states them",
    "benchmarks/idle_footprint.py": "the idle lab's target, as BENCHMARKS.md states it",
    # a trace, not a quantity shown to a person: fixed-width columns in milliseconds so two starts diff line by line
    "tui/startup.py": "JOULELAB_STARTUP's timing trace (fixed-width columns, to the millisecond)",
}


def _setting(value: ast.expr) -> bool:
    """A configured value as it is written: a name, an attribute, or the min or max of such."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("min", "max"):
        return all(_setting(arg) for arg in value.args)
    return isinstance(value, (ast.Name, ast.Attribute))


def _hand_formatted(path: Path, root: Path = ROOT) -> list[str]:
    """Numbers written by hand with a unit in an f-string: a numeric format spec followed by a unit,
    `$` before a formatted number, a size scaled by 2**20 or 1e6 and followed by MB/MiB; and a blank
    mark ("-", "") where units.MISSING belongs; a p-value formatted by hand or by `units.num` (it is
    `units.pvalue` in a cell, `units.p_equals` in a sentence). A `:g` spec on a bare name or attribute
    (or the min of two) is a setting or a constant echoed as it is configured (`timeout of {limits.timeout_s:g} s`,
    `{EFFICIENCY:g}x`): the person finds the key by its number, so that is not a second formatter."""
    tree = ast.parse(path.read_text())
    where = str(path.relative_to(root))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found += [f"{where}:{node.lineno}: {hit}" for i in range(len(node.values))
                      if (hit := _by_hand(node.values, i, where))]
        found += _blank_marks(node, where)
    return found


def _by_hand(parts: list[ast.expr], i: int, where: str) -> str | None:
    """What is written by hand in the f-string part ``parts[i]``, or None."""
    part = parts[i]
    if not isinstance(part, ast.FormattedValue):
        return None
    spec = ast.unparse(part.format_spec)[2:-1] if part.format_spec else ""
    expr = ast.unparse(part.value)
    numeric = bool(re.search(r"[efg%]$", spec) or re.search(r"\.\d|[+,]", spec))
    echoed = (spec == "g" and _setting(part.value)) or f"{where}: {expr}" in HAND_FORMATTED
    after = parts[i + 1].value if i + 1 < len(parts) and isinstance(parts[i + 1], ast.Constant) else ""
    before = parts[i - 1].value if i and isinstance(parts[i - 1], ast.Constant) else ""
    after, before = str(after), str(before)
    if (numeric and (P_NAME.search(expr) or P_BEFORE.search(before))) or (
            expr.startswith("units.num(") and P_BEFORE.search(before)):
        return f"p-value {{{expr}:{spec}}}"
    if numeric and not echoed and UNIT_AFTER.match(after):
        return f"{{{expr}:{spec}}}{after.split(' ', 2)[:2]}"
    if numeric and before.endswith("$"):
        return f"${{{expr}:{spec}}}"
    if SCALED.search(expr) and re.match(r" ?[KMGT]i?B", after):
        return f"{{{expr}}}{after[:4]}"
    return None


def _blank_marks(node: ast.AST, where: str) -> list[str]:
    """A blank mark ("-", "") given where a value may be missing: a conditional's branch, an `or`'s
    fallback, a `.get` default, a `missing=` argument."""
    blanks: list[ast.expr] = []
    if isinstance(node, ast.IfExp):
        blanks = [node.body, node.orelse]
    elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        blanks = node.values[1:]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        blanks = node.args[1:2]
    elif isinstance(node, ast.keyword) and node.arg == "missing":
        blanks = [node.value]
    return [f"{where}:{b.lineno}: blank mark {b.value!r}" for b in blanks
            if isinstance(b, ast.Constant) and isinstance(b.value, str) and b.value in BLANKS
            and (b.value or isinstance(node, ast.keyword))]


def test_no_number_is_formatted_by_hand() -> None:
    found = [hit for room in ROOMS if (ROOT / room).is_dir() for path in sorted((ROOT / room).rglob("*.py"))
             if path != ROOT / "contract" / "units.py" and str(path.relative_to(ROOT)) not in HAND_FORMATTED
             for hit in _hand_formatted(path)]
    assert not found, "a number with its unit, and a missing value, are written by contract.units:\n" + "\n".join(found)
    for entry, why in HAND_FORMATTED.items():
        name, _, expr = entry.partition(": ")
        assert why and (ROOT / name).is_file() and expr in (ROOT / name).read_text(), f"a stale allow-list entry: {entry}"


def test_the_scan_finds_hand_formatting(tmp_path: Path) -> None:
    copy = tmp_path / "hand.py"
    copy.write_text("def f(x, t, n, cost, row, limits, MAX):\n"
                    "    a = f'{x * 100:.1f} %, {t:.2f} s, {n:,.0f} B, {x:+.1f} points, {t:.0f}s'\n"
                    "    b = f'spent ${cost:.2f}; {n / 2**20:.0f} MB; {n // 2**20} MiB; {n / 1e6:.1f} MB'\n"
                    "    c = row.get('device', '-'), row.device or '-', units.change_interval(x, missing=''), row.get('t', '?')\n"
                    "    ok = f'{limits.timeout_s:g} s, {MAX:g}x, {units.percent(x)} of {n} runs, {x:.3f}'\n"
                    "    d = f'{x.energy_kwh:.6g} kWh, {min(x.a, t):g} s, {limits.timeout_s * 2:g} s'\n"
                    "    e = f'p = {x:.3g}', f'adjusted p = {units.num(x)}', f'{cost.p_value:.2g}', f'({p:.3f})'\n"
                    "    fine = f'{units.p_equals(x)}, p = {units.pvalue(x)}, {units.num(x)} kernels'\n"
                    "    return a, b, c, ok, d, e, fine\n")
    found = _hand_formatted(copy, tmp_path)
    assert len([h for h in found if ":2:" in h]) == 5 and len([h for h in found if ":3:" in h]) == 4, found
    assert len([h for h in found if ":4: blank mark" in h]) == 4 and not [h for h in found if ":5:" in h], found
    assert len([h for h in found if ":7: p-value" in h]) == 4 and not [h for h in found if ":8:" in h], found
    assert [h.split(": ")[1] for h in found if ":6:" in h] == ["{x.energy_kwh:.6g}['', 'kWh,']",
                                                                "{limits.timeout_s * 2:g}['', 's']"], found


def test_one_missing_mark() -> None:
    assert units.MISSING == "n/a"
    for shown in (units.energy(None), units.duration(None), units.size(None), units.ratio(None), units.pvalue(None),
                  units.power(None), units.temperature(None),
                  units.percent(None), units.num(None), units.usd(None), units.when(None), units.since(None, 0.0),
                  units.eta(None, 100, 60), units.value(None, quantities.Kind.FRACTION), units.of("test_accuracy", None),
                  units.interval(None, quantities.Kind.BYTES), units.change(None, quantities.Kind.LOSS),
                  units.change_interval([None, 1], quantities.Kind.FRACTION), units.mean_std(None, 1, "loss"),
                  units.summary("energy_kwh", None), units.summary_ci("test_accuracy", {}), units.result_value("x", None),
                  units.percent_interval([0.1, None])):
        assert shown == units.MISSING


@pytest.mark.parametrize("kwh", ENERGIES)
def test_an_energy_prints_the_same_as_a_value_and_a_result(kwh: float) -> None:
    assert units.value(kwh, quantities.Kind.ENERGY) == units.of("energy_kwh", kwh) == units.energy(kwh)


def test_the_cases_the_issue_found_and_the_units_chosen() -> None:
    assert units.energy(5e-7) == "500 µWh"                # was "0.5 mWh" from the agents
    assert units.duration(75.6) == "1m16s"                # was "1m15s" in the control room
    assert units.energy(0.99998) == "1 kWh"               # rounded first, never "1e+03 Wh"
    assert units.energy(2.5e-5, estimated=True) == "25 mWh (modelled from CPU time)"
    assert units.duration(9.96) == "10 s" and units.duration(59.7) == "1m00s"
    assert units.percent(0.8123) == "81.2 %" and units.percent(0.8123, 2) == units.value(0.8123, "fraction")
    # a relative change: the CLI's `lab diff`, the evaluation sets' "vs reference" and change()'s "% of the reference"
    assert units.percent(0.012, signed=True) == "+1.2 %" and units.percent(-0.00049, 2, signed=True) == "-0.05 %"
    assert units.percent_interval([-0.005, 0.012], 2, signed=True) == "-0.50..+1.20 %"
    assert units.percent_interval([0.801, 0.823]) == "80.1..82.3 %"
    assert units.pvalue(0.0004) == "< 0.001" and units.ratio(3.4567) == "3.46x" and units.ratio(12.345) == "12.3x"
    assert units.num(0.012345) == "0.0123" and units.usd(0.5) == "$0.50" and units.usd(0.0042) == "$0.0042"
    # the agents' ci_percent and the reports' pct_ci were one interval: now `interval` of a fraction
    assert units.interval([0.801, 0.823], quantities.Kind.FRACTION, 3) == "80.1..82.3 %"
    assert units.interval([0.98, 1.02], quantities.Kind.FRACTION, 4) == "98.00..100.00 %"
    assert units.energy_mark(True) == units.MODELLED and units.energy_mark(False) == " (measured)"
    assert units.energy_mark(False, short=True) == "" and units.energy_mark(None) == ""
    assert units.result_value("test_accuracy", 0.5) == "50.00 %" and units.result_value("device", "cpu") == "cpu"
    assert units.summary("test_accuracy", {"mean": 0.8123, "std": 0.004}) == "81.23 ± 0.40 %"


def test_a_size_prints_the_same_in_the_control_room_and_lab_status() -> None:
    assert [units.size(n) for n in (512, 1536, 36 * 2**20, 510.4 * 2**20, 3 * 2**30)] == \
        ["512 B", "1.5 KiB", "36 MiB", "510.4 MiB", "3 GiB"]


def test_the_shared_limits() -> None:
    assert limits.seeds_problem(limits.MAX_SEEDS) is None and limits.seeds_problem(limits.MIN_SEEDS) is None
    assert limits.seeds_problem(limits.MAX_SEEDS + 1) and limits.seeds_problem(0) and limits.seeds_problem(True)
    assert limits.seeds_problem("3") and limits.priority_problem(1001) and limits.priority_problem(2.0)
    assert limits.priority_problem(-1000) is None


def test_a_learning_rate_interval_never_goes_below_zero() -> None:
    # RESULTS' generator printed selected_lr 0.0533 [-0.0471..0.1537] (a t-interval over 3 seeds)
    assert quantities.kind_of("selected_lr") is quantities.Kind.HYPERPARAMETER
    assert quantities.kind_of("lr") is quantities.kind_of("temperature") is quantities.Kind.HYPERPARAMETER
    assert quantities.info(quantities.kind_of("selected_lr")).non_negative
    assert quantities.kind_of("lr_grid") is quantities.Kind.NUMBER  # a list, not one rate


def test_a_margin_is_said_by_its_kind() -> None:
    assert units.margin(0.01, quantities.Kind.FRACTION) == "1 point"
    assert units.margin(0.02, "fraction") == "2 points"
    assert units.margin(0.03, quantities.Kind.PERPLEXITY) == "3 % of the reference"
    assert units.margin(0.01, quantities.Kind.LOSS) == "1 % of the reference"
    assert units.margin(None, quantities.Kind.LOSS) == units.MISSING
    assert units.margin_rule(0.01) == "1 point of a fraction (accuracy), 1 % of the reference for a perplexity or a loss"


def test_a_share_of_matching_tokens_is_a_fraction_with_its_unit() -> None:
    # the control room's ratings showed speculative decoding's quality as "+0 [+0..+0]", no unit
    assert quantities.kind_of("greedy_token_match") is quantities.Kind.FRACTION
    kind = quantities.kind_of("greedy_token_match")
    assert units.change(0.0, kind) != "+0" and "%" in units.value(1.0, kind)
