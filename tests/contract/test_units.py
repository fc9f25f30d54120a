"""One way to write a number with its unit: the control room, the command line, the agents'
sentences and the reports all ask contract.units, the one formatter (issue 23), and a missing
value is written one way everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from contract import limits, quantities, units

ROOT = Path(__file__).resolve().parents[2]
ENERGIES = [5e-7, 1e-6, 2.5e-5, 9.9996e-4, 0.0123, 0.99998, 1.5, 1234.0]

#: the writers of contract.units that a room once copied (tui/format.py, agents/text.py, now science/text.py,
#: records/reports/fmt.py): a function of these names returning a string elsewhere is a second formatter
WRITERS = {"energy", "co2", "duration", "percent", "pct", "pct_ci", "ci_percent", "ci_points", "points", "times",
           "times_ci", "ratio", "ratio_interval", "pvalue", "num", "size", "usd", "when", "ago", "since", "clock_time",
           "eta", "result_value", "mean_std", "interval", "change", "change_ci", "change_interval", "with_interval",
           "unit_of", "unit_scale", "energy_mark", "of", "summary_ci", "is_number", "unit_for"}
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


def test_one_missing_mark() -> None:
    assert units.MISSING == "n/a"
    for shown in (units.energy(None), units.duration(None), units.size(None), units.ratio(None), units.pvalue(None),
                  units.percent(None), units.num(None), units.usd(None), units.when(None), units.since(None, 0.0),
                  units.eta(None, 100, 60), units.value(None, quantities.Kind.FRACTION), units.of("test_accuracy", None),
                  units.interval(None, quantities.Kind.BYTES), units.change(None, quantities.Kind.LOSS),
                  units.change_interval([None, 1], quantities.Kind.FRACTION), units.mean_std(None, 1, "loss"),
                  units.summary("energy_kwh", None), units.summary_ci("test_accuracy", {}), units.result_value("x", None)):
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
