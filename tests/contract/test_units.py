"""One way to write a number with its unit: the control room and the command line (tui.format),
the agents' sentences (science.text) and the reports (records.reports.fmt) print the same value
the same way, because all of them ask contract.units."""

from __future__ import annotations

import pytest

from contract import limits, quantities, units
from records.reports import fmt
from science import text
from tui import format as tui_format

ENERGIES = [5e-7, 1e-6, 2.5e-5, 9.9996e-4, 0.0123, 0.99998, 1.5, 1234.0]
DURATIONS = [0.04, 4.24, 9.96, 42.4, 59.7, 75.6, 3599.6, 7512.0]


@pytest.mark.parametrize("kwh", ENERGIES)
def test_an_energy_prints_the_same_everywhere(kwh: float) -> None:
    shown = {tui_format.energy(kwh), text.energy(kwh), fmt.value("energy_kwh", kwh)}
    assert shown == {units.energy(kwh)}


@pytest.mark.parametrize("seconds", DURATIONS)
def test_a_duration_prints_the_same_everywhere(seconds: float) -> None:
    assert {tui_format.duration(seconds), text.duration(seconds)} == {units.duration(seconds)}


@pytest.mark.parametrize("x", [0.5, 1.0, 3.4567, 9.999, 12.345, 45.2])
def test_a_factor_prints_the_same_everywhere(x: float) -> None:
    assert {tui_format.ratio(x), text.times(x), fmt.times(x)} == {units.times(x)}


def test_the_cases_the_issue_found_and_the_units_chosen() -> None:
    assert units.energy(5e-7) == "500 µWh"                # was "0.5 mWh" from the agents
    assert units.duration(75.6) == "1m16s"                # was "1m15s" in the control room
    assert units.energy(0.99998) == "1 kWh"               # rounded first, never "1e+03 Wh"
    assert units.energy(2.5e-5, estimated=True) == "25 mWh (modelled from CPU time)"
    assert units.duration(9.96) == "10 s" and units.duration(59.7) == "1m00s"
    assert units.percent(0.8123) == text.percent(0.8123) == tui_format.percent(0.8123) == "81.2 %"
    assert units.pvalue(0.0004) == text.pvalue(0.0004) == fmt.pvalue(0.0004) == "< 0.001"
    assert tui_format.energy(None) == "-" and text.energy(None) == "n/a" == fmt.value("energy_kwh", None)


def test_a_size_prints_the_same_in_the_control_room_and_lab_status() -> None:
    assert [quantities.size(n) for n in (512, 1536, 36 * 2**20, 510.4 * 2**20, 3 * 2**30)] == \
        ["512 B", "1.5 KiB", "36 MiB", "510.4 MiB", "3 GiB"]
    assert tui_format.size(36 * 2**20) == quantities.size(36 * 2**20) and tui_format.size(None) == "-"
    assert quantities.size(None) == "n/a"


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
    assert quantities.margin(0.01, quantities.Kind.FRACTION) == "1 point"
    assert quantities.margin(0.02, "fraction") == "2 points"
    assert quantities.margin(0.03, quantities.Kind.PERPLEXITY) == "3 % of the reference"
    assert quantities.margin(0.01, quantities.Kind.LOSS) == "1 % of the reference"
    assert quantities.margin(None, quantities.Kind.LOSS) == quantities.MISSING
    assert quantities.margin_rule(0.01) == "1 point of a fraction (accuracy), 1 % of the reference for a perplexity or a loss"
