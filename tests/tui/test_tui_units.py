"""The control room's pieces on their own: parameter checks, key maps, settings, formatting,
statistics, the queue's diffed redraw, and the Store read methods it added."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from contract import quantities, units
from contract.catalog_answer import CatalogEntry
from contract.params import Param
from science.stats import mean_ci
from tests import rows as store_rows
from tests.timing import scaled
from tui import keys
from tui.params import changed, parse_value, split_errors, validate, value_text
from tui.ui_settings import MIN_REFRESH_S, clamp_refresh, load_ui_settings
from tui.widgets.table_cells import bar


def entry() -> CatalogEntry:
    return CatalogEntry("pruning", "t", "compression", "inference", "", "", [], "dense", {}, [
        Param("epochs", "int", 30, "passes over the data", 1, 500),
        Param("lr", "float", 0.01, "", 0.0, 1.0),
        Param("sparsities", "float_list", [0.5], "", 0.0, 0.99),
        Param("dataset", "choice", "digits", "", choices=["digits", "synthetic"]),
        Param("amp", "bool", False, ""),
    ], ())


def test_parse_values_against_the_catalog_ranges():
    e = entry()
    assert parse_value(e.param("epochs"), "40") == (40, None)
    assert parse_value(e.param("epochs"), "ten")[1] == "must be an integer between 1 and 500, got 'ten'"
    assert parse_value(e.param("epochs"), "0")[1] == "must be an integer between 1 and 500, got '0'"
    assert parse_value(e.param("lr"), "1e-3") == (0.001, None)
    assert "finite" in parse_value(e.param("lr"), "nan")[1]
    assert parse_value(e.param("sparsities"), "0.3, 0.7") == ([0.3, 0.7], None)
    assert parse_value(e.param("sparsities"), "[0.3, 0.7]") == ([0.3, 0.7], None)
    assert "every item must be a number between 0 and 0.99" in parse_value(e.param("sparsities"), "0.3, 1.5")[1]
    assert parse_value(e.param("dataset"), "mnist")[1] == "must be one of digits, synthetic, got 'mnist'"
    assert parse_value(e.param("amp"), "yes") == (True, None)
    values, problems = validate(e, {"epochs": "12", "lr": "x", "nope": "1"})
    assert values == {"epochs": 12} and set(problems) == {"lr", "nope"}
    assert value_text(e.param("sparsities"), [0.3, 0.7]) == "0.3, 0.7"
    assert changed({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": 3}
    assert split_errors("epochs: must be int; unknown experiment 'x'") == {
        "epochs": "must be int", None: "unknown experiment 'x'"}


def test_every_binding_has_an_id_a_description_and_unique_keys_per_screen():
    assert len(keys.ALL) == sum(len(s) for s in keys.SCOPES.values()), "ids are unique"
    for k in keys.ALL.values():
        assert k.id and k.description and k.help, k
    for scope in ([*keys.DASHBOARD, *keys.EXPERIMENT], keys.APPROVAL, [*keys.DETAIL, *keys.EXPERIMENT]):
        taken = [key for k in scope for key in k.keys.split(",")]
        assert len(taken) == len(set(taken)), scope


def test_keymap_flat_nested_and_problems(tmp_path: Path):
    mine = tmp_path / "keymap.toml"
    mine.write_text('[keys]\n"approval.approve" = "y"\n[keys.exp]\ncancel = ["x", "ctrl+x"]\n')
    keymap, problems = keys.load_keymap({"lab.new": "N", "bogus.id": "b", "app.quit": ""}, mine)
    assert keymap == {"lab.new": "N", "approval.approve": "y", "exp.cancel": "x,ctrl+x"}
    assert len(problems) == 2 and "bogus.id" in problems[0] and "app.quit" in problems[1]
    broken = tmp_path / "broken.toml"
    broken.write_text("[keys\n")
    assert "cannot read" in keys.load_keymap({}, broken)[1][0]


def test_settings_refresh_is_never_faster_than_4_hz(tmp_path: Path):
    from contract.layout import LabDir

    assert clamp_refresh(0.01) == MIN_REFRESH_S == 0.25
    assert clamp_refresh("x") == 1.0 and clamp_refresh(2) == 2.0
    lab = LabDir(tmp_path / "lab").ensure()
    lab.config.write_text(lab.config.read_text() + "\n[tui]\nrefresh_s = 0.05\n[keys]\n\"lab.new\" = \"N\"\n")
    settings = load_ui_settings(lab, user_keymap=tmp_path / "none.toml")
    assert settings.refresh_s == 0.25 and settings.keymap == {"lab.new": "N"}
    assert settings.budgets.kwh_per_day == 1.0 and settings.autonomy == 1


def test_format_additions():
    assert units.eta(25, 100, 60) == "3m00s" and units.eta(None, 100, 60) == "n/a" and units.eta(100, 100, 5) == "0 s"
    assert units.ratio(1.8) == "1.80x" and units.usd(0.5) == "$0.50"
    assert units.change(-0.002, quantities.Kind.FRACTION, compact=True) == "-0.2 pt"
    assert bar(0.5, 4) == "██  " and bar(None, 3) == "   " and len(bar(0.33, 7)) == 7


def test_mean_ci():
    mean, ci = mean_ci([0.9, 0.92, 0.94])
    assert mean == pytest.approx(0.92) and ci == pytest.approx((0.8703, 0.9697), abs=1e-3)
    assert mean_ci([1.0]) == (1.0, None)


async def test_store_read_methods(lab):
    from db import RunState, Store

    store = await Store.open(lab.db)
    try:
        rated = await store.rated_experiments(10)
        assert [(e.id, e.rating) for e in rated] == [(1, 7), (2, 5)]
        family = await store.experiment_family(5)
        assert [(e.id, e.parent_id) for e in family] == [(1, None), (5, 1)]
        assert [e.id for e in await store.experiment_family(1)] == [1, 5]
        assert await store.experiments_approved_since(0) == 4
        runs = await store.queue_runs([4, 3])
        assert [r.id for r in runs] == [9, 10, 11, 12, 13, 14] and await store.queue_runs([]) == []
        assert [(r.status, r.device) for r in runs[-2:]] == [(RunState.RUNNING, "cpu1"), (RunState.QUEUED, "cpu")], \
            "the device it got, else the kind it asks for"
        assert all(type(r.status) is RunState for r in runs)
        from db.connection import connect_sync
        from db.core import typed_rows
        from db.rows import Run, rows_dicts

        raw = connect_sync(lab.db)
        try:
            rows = raw.execute("SELECT * FROM runs ORDER BY id").fetchall()
        finally:
            raw.close()
        assert len(rows) > 6 and typed_rows(Run, rows) == Run.many(rows_dicts(rows)), "as the generic read, JSON columns too"
        points = await store.metric_points_after(13, 1, after_step=37)
        assert points == {"train_loss": [(38, pytest.approx(0.1 + 2.3 * 0.92 ** 38)),
                                         (39, pytest.approx(0.1 + 2.3 * 0.92 ** 39))],
                          "val_accuracy": [(38, pytest.approx(0.95 - 0.8 * 0.9 ** 38)),
                                           (39, pytest.approx(0.95 - 0.8 * 0.9 ** 39))]}
        history = await store.run_history("pruning")
        assert history.n == 6 and history.mean_s == pytest.approx(60) and history.estimated
        assert (await store.run_history("nothing")).n == 0
        stamps = await store.change_stamps()
        assert set(stamps) == {"experiments", "runs", "energy", "messages", "system", "settings", "events", "engine", "llm"}
        assert await store.change_stamps() == stamps, "nothing changed, nothing moves"
        msg = (await store.messages(limit=1))[-1]
        await store.update_message(msg.id, append=" more")
        after = await store.change_stamps()
        assert after["messages"] != stamps["messages"] and after["runs"] == stamps["runs"]
        await store.set_setting("paused", True)
        assert (await store.change_stamps())["settings"] != stamps["settings"]
    finally:
        await store.close()


async def test_queue_redraws_only_the_cells_that_changed(lab, app_factory, monkeypatch):
    from dataclasses import replace

    from textual.geometry import Region

    import tui.widgets.light_table as light
    from tests.tui.support import ready
    from tui.widgets.queue_table import QueueTable

    app = app_factory(lab, refresh_s=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        table = app.screen.query_one(QueueTable)
        deadline = time.monotonic() + scaled(10)
        while not (table.size.width and table.row_count) and time.monotonic() < deadline:
            await pilot.pause(0.05)  # under load the first layout may come after the first data
        await pilot.pause()
        refreshed: list[tuple[Region, ...]] = []
        drawn: list[str] = []
        original_refresh, original_cell = table.refresh, light.cell_segments

        def refresh(*regions, **kwargs):  # type: ignore[no-untyped-def]
            refreshed.append(regions)
            return original_refresh(*regions, **kwargs)

        def cell_segments(console, cell, *args):  # type: ignore[no-untyped-def]
            drawn.append(cell.plain)
            return original_cell(console, cell, *args)

        monkeypatch.setattr(table, "refresh", refresh)
        monkeypatch.setattr(light, "cell_segments", cell_segments)
        table._styles_cache.clear()  # every line drawn by the table (headless, nothing is drawn unless asked)
        table.render_lines(table.size.region)
        lines_before = dict(table._lines)
        drawn.clear()
        table.show(table.experiments, table.now)
        assert refreshed == [] and table._lines == lines_before, "the same data redraws nothing"
        exps = list(table.experiments)
        i = next(i for i, e in enumerate(exps) if e.id == 4)
        runs = list(exps[i].runs)
        j = next(j for j, r in enumerate(runs) if r.id == 13)
        runs[j] = replace(runs[j], progress_done=41)
        exps[i] = replace(exps[i], runs=tuple(runs))
        table.show(tuple(exps), table.now)
        # the changed cells are marked dirty, all in one refresh, where the table shows them
        assert len(refreshed) == 1, refreshed
        keys = [k for k, _ in table._rows]
        columns = [c.key for c in table.columns]
        xs = [0]
        for c in table.columns:
            xs.append(xs[-1] + c.width + 2)
        cells = {(keys[r.y - 1], columns[xs.index(r.x)]) for r in refreshed[0]}
        assert all(r.height == 1 and xs[xs.index(r.x) + 1] - r.x == r.width for r in refreshed[0])
        assert cells <= {("r13", "progress"), ("r13", "eta"), ("e4", "progress"), ("e4", "eta")}
        assert ("r13", "progress") in cells
        # only the changed rows' lines are drawn again, and in them only the changed cells
        assert set(lines_before) - set(table._lines) == {k for k, _ in cells}
        table.render_lines(table.size.region)
        assert set(table._lines) == set(lines_before)
        row = keys.index("r13")
        text = "".join(seg.text for seg in table.render_line(row + 1))  # line 0 is the header
        assert "41" in text, text
        new = {c.plain for k, cs in table._rows if k in {k for k, _ in cells}
               for n, c in enumerate(cs) if (k, columns[n]) in cells}
        assert drawn and set(drawn) <= new, (drawn, new)
        # the same cells changed again and again (an elapsed time each second) are drawn anew each time
        for later in (5.0, 65.0):
            table.show(table.experiments, table.now + later)
            await pilot.pause()
            elapsed = table._rows[0][1][-1].plain
            assert elapsed in "".join(seg.text for seg in table.render_line(1)), elapsed
        await asyncio.sleep(0)


def test_curves_merge_never_adds_a_point_twice():
    from tui.widgets.curve_series import merge

    curves: dict = {}
    assert merge(curves, {"loss": [(0, 1.0), (1, 0.5)]})
    assert not merge(curves, {"loss": [(0, 1.0), (1, 0.5)]}), "a read that raced another adds nothing"
    assert merge(curves, {"loss": [(1, 0.5), (2, 0.25)], "acc": [(0, 0.1)]})
    assert curves == {"loss": [(0, 1.0), (1, 0.5), (2, 0.25)], "acc": [(0, 0.1)]}


def test_detail_screen_shows_the_validators_numbers_and_a_void_comparison():
    """The Metrics and Rating tabs read the breakdown the validator stored (one statistics
    module): the same intervals, the headline, a void control and modelled energy said so."""
    from rich.console import Console

    from db import Experiment, Run
    from science.analysis import analyze
    from science.experiment_info import ExperimentInfo
    from tui.widgets.metrics_table import caption, summarize
    from tui.widgets.rating_view import breakdown_renderable

    keys = {"quality": "test_accuracy", "energy": "energy_kwh", "time": "train_time_s", "size": "model_size_bytes"}
    runs = [Run.of({"id": i, "experiment_id": 1, "catalog": "gradient_clipping", "variant": v, "seed": s,
                    "status": "succeeded", "params": {}, "variant_params": {}, "depends_on": [],
                    "result": {"test_accuracy": acc + 0.003 * s, "energy_kwh": e * (1 + 0.01 * s),
                               "train_time_s": e * 1e6, "model_size_bytes": 100, "energy_mode": "modelled",
                               "diverged": v == "sgd" and s == 2, "seed": s, "versions": {}}})
            for i, (v, s, acc, e) in enumerate((v, s, acc, e) for s in range(5)
                                               for v, acc, e in (("sgd", 0.90, 2e-6), ("clip", 0.91, 1e-6)))]
    a = analyze(ExperimentInfo("gradient_clipping", "sgd", keys=keys), runs, 5)
    exp = {"rating": 4, "rating_breakdown": {"rating": 4, "rubric_version": 2, "baseline": "sgd", "keys": a.keys,
                                             "gain_phase": "training", "criteria": [],
                                             "variants": {n: v.to_json() for n, v in a.variants.items()},
                                             "headline": a.headline.to_json() if a.headline else None}}
    rated = Experiment.of({"id": 1, "name": "clip", "catalog": "gradient_clipping", "status": "done", "params": {},
                           "plan": [], **exp})
    _, rows = summarize(runs, rated)
    q = a.variants["clip"].quality
    shown = dict((v, cells) for v, _, cells in rows)["clip"]["test_accuracy"]
    assert q.ci95 is not None and q.ci95[0] is not None and q.ci95[1] is not None
    assert shown == f"{units.result_value('test_accuracy', q.mean)} ± " \
                    f"{units.result_value('test_accuracy', (q.ci95[1] - q.ci95[0]) / 2)}"
    assert "energy modelled from CPU time" in caption(runs)
    console = Console(record=True, width=160)
    console.print(breakdown_renderable(rated))
    text = console.export_text()
    assert "Comparison void: the reference sgd diverged in 1 of 5 seed(s)" in text
    assert "INVALID" in text and "modelled from CPU time" in text and "rubric v2" in text


def test_a_preliminary_rating_is_marked_in_the_control_room() -> None:
    """Issue 22: a smoke run's rating says it is preliminary in the detail screen and the ratings
    panel (one rule, science/rubric.preliminary); an experiment the validator marked a finding does
    not."""
    from rich.console import Console

    from tui.ratings import leader_row
    from tui.widgets.rating_view import breakdown_renderable

    breakdown = {"rating": 6, "rubric_version": 2, "baseline": "dense", "criteria": [], "variants": {},
                 "keys": {"quality": "test_accuracy"}, "preliminary": True, "points": 9,
                 "preliminary_reason": "profile smoke (capped data, one or two epochs)"}
    smoke = {"id": 3, "name": "p", "catalog": "pruning", "rating": 6.0, "params": {"profile": "smoke"}, "seeds": 5,
             "rating_breakdown": breakdown}
    console = Console(record=True, width=160)
    console.print(breakdown_renderable(store_rows.experiment(**smoke)))
    assert ("PRELIMINARY (profile smoke (capped data, one or two epochs)): not a finding, rated at most 6/10; its "
            "criteria earned 9") in console.export_text()
    assert leader_row(store_rows.experiment(**smoke)).preliminary is True
    finding = {**smoke, "params": {"profile": "default"}, "rating_breakdown": {**breakdown, "preliminary": False}}
    console = Console(record=True, width=160)
    console.print(breakdown_renderable(store_rows.experiment(**finding)))
    assert "PRELIMINARY" not in console.export_text() and leader_row(store_rows.experiment(**finding)).preliminary is False


def test_a_perplexity_change_is_shown_in_its_own_units_not_as_points() -> None:
    from tui.ratings import LeaderRow
    from tui.widgets.leaderboard import delta_header, delta_text

    ppl = LeaderRow(1, "c", "compression_pipeline", 9.0, "v", 0.5, 0.8, 6.6, 0.574, (0.393, 0.755), True,
                    quality_key="test_perplexity")
    acc = LeaderRow(2, "p", "pruning", 8.0, "v", 1.5, 1.3, 1.0, 0.001, (-0.004, 0.006), True)
    assert delta_text(ppl) == "+0.57 ppl [+0.39..+0.76]" and delta_text(acc) == "+0.1 pt [-0.4..+0.6]"
    # one unit for the whole board: it goes into the header, the cells stay short
    assert delta_header((acc,)) == "Δ acc, pt [95% CI]" and delta_text(acc, with_unit=False) == "+0.1 [-0.4..+0.6]"
    assert delta_header((ppl,)) == "Δ ppl [95% CI]" and delta_text(ppl, with_unit=False) == "+0.57 [+0.39..+0.76]"
    assert delta_header((acc, ppl)) is None  # mixed: each cell names its unit


def test_the_proposal_view_does_not_repeat_the_hypothesis_and_question_as_evidence() -> None:
    from db import Experiment, ExperimentState, Message, RunCosts
    from tui.reader import Proposal
    from tui.widgets.proposal_view import evidence

    exp = Experiment(id=3, name="int8", catalog="quantization", status=ExperimentState.AWAITING_APPROVAL, params={},
                     plan=[], hypothesis="int8 keeps accuracy within 1 point.",
                     research_question="How much energy does int8 save?")
    said = ("Proposal (baseline sweep): quantization: it has never run here.\nHypothesis: int8 keeps accuracy "
            "within 1 point.\nResearch question: How much energy does int8 save?\nEvidence: no quantization "
            "experiment yet\n\nThe model's comment.")
    message = Message(1, 3, "researcher", "proposal", said, False, 0.0, 0.0, 0.0, "openai")
    (shown,) = evidence(Proposal(exp, None, RunCosts(), [message]))
    assert shown == ("Proposal (baseline sweep): quantization: it has never run here.\nno quantization "
                     "experiment yet\n\nThe model's comment.")
    assert "Hypothesis" not in shown and "Research question" not in shown


def test_consecutive_trainings_are_separate_series_and_each_kind_has_its_axis() -> None:
    from tui.widgets.curve_series import kind, panels, pick_keys, split, training_starts

    # three learning rates, one after the other on one step axis (a sweep), each marked where it starts
    curves = {"training": [(0, 0.0), (100, 1.0), (200, 2.0)],
              "train_loss": [(s, 2.0 - (s % 100) / 100) for s in range(10, 301, 10)],
              "val_accuracy": [(s, 0.5 + (s % 100) / 300) for s in (50, 100, 150, 200, 250, 300)],
              "lr": [(s, (0.1, 0.01, 0.001)[(s - 1) // 100]) for s in range(10, 301, 10)]}
    starts = training_starts(curves)
    assert starts == [0, 100, 200]
    keys = pick_keys(curves)
    assert "training" not in keys and keys == ["train_loss", "val_accuracy", "lr"]
    pieces = split(curves["train_loss"], starts)
    assert [len(p) for p in pieces] == [10, 10, 10]
    assert all(p[0][0] == 10 and p[-1][0] == 100 for p in pieces), "each training from its own step 0"
    assert [max(v for _, v in p) for p in split(curves["lr"], starts)] == [0.1, 0.01, 0.001]
    # loss and accuracy on one panel's two axes, the learning rate on its own: never sharing an axis
    assert panels(keys) == [(["train_loss"], ["val_accuracy"]), (["lr"], [])]
    assert {kind(k) for k in keys} == {"loss", "accuracy", "learning rate"}
    # one training: one series per key, as before
    single = {k: v for k, v in curves.items() if k != "training"}
    assert split(single["train_loss"], training_starts(single)) == [single["train_loss"]]


async def test_the_curves_panel_draws_each_training_and_labels_its_axes() -> None:
    from textual.app import App

    from tui.widgets.curves import CurvePlot

    class One(App[None]):
        def compose(self):  # type: ignore[no-untyped-def]
            yield CurvePlot()

    app = One()
    async with app.run_test(size=(100, 30)) as pilot:
        plot = app.query_one(CurvePlot)
        plot.set_curves({"training": [(0, 0.0), (100, 1.0)],
                         "train_loss": [(s, 2.0 - (s % 100) / 100) for s in range(10, 201, 10)],
                         "val_accuracy": [(s, 0.5 + s / 1000) for s in (100, 200)],
                         "lr": [(s, 0.1 if s <= 100 else 0.01) for s in range(10, 201, 10)]}, "run 7")
        await pilot.pause()
        text = str(plot.render())
        assert "lr 0.1" in text and "lr 0.01" in text and "2 trainings, each from step 0" in text, text
        assert "step of each training" in text and "loss" in text and "accuracy" in text, text
        assert "learning rate" in text, "the learning rate has its own labelled axis"


def test_metric_columns_are_abbreviated_with_a_legend_rather_than_cut() -> None:
    from tui.widgets.metrics_table import abbreviations, headers

    keys = ["test_accuracy", "train_time_s", "latency_b1_ms", "model_size_bytes", "energy_kwh",
            "energy_train_kwh", "energy_inference_kwh", "peak_mem_bytes"]
    rows = [("magnitude-50", 3, {k: "1.23 ± 0.04" for k in keys})]
    wide, legend = headers(keys, rows, 200)
    assert wide == {k: k for k in keys} and legend == ""
    narrow, legend = headers(keys, rows, 78)
    assert any(narrow[k] != k for k in keys)
    for k in keys:
        assert narrow[k] == k or f"{narrow[k]} = {k}" in legend, "every short name is in the legend"
    assert len(set(abbreviations(keys).values())) == len(keys), "short names are unique"


def test_the_curves_are_due_for_new_points_only_when_they_would_be_drawn():
    import time as time_module

    from tui.widgets.curves import CurvePlot

    plot = CurvePlot(every_s=3.0)
    assert plot.due(), "never drawn: the first points are drawn at once"
    plot._drawn = (time_module.monotonic(), ["loss"], 0, 10)
    assert not plot.due(), "drawn just now: new points wait for the next drawing"
    plot._drawn = (time_module.monotonic() - 3.5, ["loss"], 0, 10)
    assert plot.due()


async def test_the_curves_drawn_line_by_line_are_what_textual_draws_of_the_whole_drawing() -> None:
    """The curves panel renders each line on its own and keeps what did not change (a line's text
    made once, its strip rendered once): every line equals the line Textual renders from the
    whole drawing at once, through growing curves, a second training, a resize, a text selection
    and a message wrapped on two lines."""
    from textual.app import App
    from textual.geometry import Offset
    from textual.selection import Selection
    from textual.visual import Visual, visualize

    from tui.widgets import curves
    from tui.widgets.curve_series import Curves

    class One(App[None]):
        def compose(self):  # type: ignore[no-untyped-def]
            yield curves.CurvePlot()

    def whole(plot: curves.CurvePlot) -> list[object]:
        """The lines of the whole drawing rendered at once."""
        width, height = plot.size
        return Visual.to_strips(plot, visualize(plot, plot.render()), width, height, plot.visual_style)

    app = One()
    async with app.run_test(size=(100, 30)) as pilot:
        plot = app.query_one(curves.CurvePlot)
        run: Curves = {"train_loss": [], "val_accuracy": [], "lr": []}
        plot.set_curves(run, "run 7")
        kept = drawn = 0
        for end in (40, 60, 61, 90, 160, 161):  # grown past the axes' range and within it
            for s in range(len(run["train_loss"]), end):
                run["train_loss"].append((s, 2.0 / (1 + s / 20)))
                run["lr"].append((s, 0.1 / (1 + s / 50)))
                if s % 10 == 0:
                    run["val_accuracy"].append((s, 0.5 + s / 400))
            before = list(plot._cache[1]) if plot._cache else []
            plot.touched()
            await pilot.pause()
            lines = [plot.render_line(y) for y in range(plot.size.height)]
            assert lines == whole(plot), f"at step {end}"
            drawn += bool(before) and plot._cache is not None and plot._cache[1] != before
            kept += sum(a is b for a, b in zip(before, plot._cache[1]))  # type: ignore[index]
        assert drawn and kept > 0, "lines a growing curve left as they were are not made again"
        run["training"] = [(0, 0.0), (100, 1.0)]  # a second training: two series, another heading
        plot.set_curves(run, "run 7")
        await pilot.pause()
        assert "2 trainings" in plot.render().plain
        assert [plot.render_line(y) for y in range(plot.size.height)] == whole(plot)
        drawing = plot._cache
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert [plot.render_line(y) for y in range(plot.size.height)] == whole(plot)
        assert plot._cache is not drawing and plot._cache[0][1:] == (80, 24), "drawn again at the new size"
        app.screen.selections = {plot: Selection(Offset(3, 2), Offset(20, 6))}
        await pilot.pause()
        assert [plot.render_line(y) for y in range(plot.size.height)] == whole(plot)
        app.screen.selections = {}
        plot.empty_text = "no run is running: select a run to see its curves " * 3  # wider than the panel
        plot.set_curves({}, "")
        await pilot.pause()
        width, height = plot.size
        wrapped = Visual.to_strips(plot, visualize(plot, plot.render()), width, height, plot.visual_style)
        assert len(wrapped) > 1 and [plot.render_line(y) for y in range(len(wrapped))] == wrapped


def test_a_growing_curve_is_thinned_on_its_grid_scanning_only_its_new_points() -> None:
    """The points kept of a long curve are those on a grid of `stride` steps from the first (and
    the last); kept from one drawing to the next, they equal a scan of the whole curve while it
    grows, when its grid changes and when it is replaced."""
    from tui.widgets.curves import CurvePlot

    def whole(points, first, stride):  # type: ignore[no-untyped-def]
        kept = [p for p in points if (p[0] - first) % stride == 0]
        return kept if kept and kept[-1] == points[-1] else [*kept, points[-1]]

    plot = CurvePlot()
    curve: list[tuple[int, float]] = []
    for end, stride in ((50, 3), (51, 3), (90, 3), (91, 4), (150, 4), (153, 4), (200, 7)):
        curve.extend((s, s / 10) for s in range(len(curve), end))
        assert plot._thin((0, "loss", 0), curve, 0, stride, 20) == whole(curve, 0, stride), (end, stride)
    halved = curve[::2]  # thinned when too long: another list
    assert plot._thin((0, "loss", 0), halved, 0, 7, 20) == whole(halved, 0, 7)
    assert plot._thin((0, "loss", 0), curve[:10], 0, 7, 20) == curve[:10], "short: every point"


def test_a_braille_panel_draws_its_points_where_its_axes_say_with_ticks_and_names() -> None:
    """A rising line from the bottom left to the top right of its ranges: its first dot in the
    bottom row's first cell, its last in the top row's last cell, in its colour; the left axis's
    ticks from 0.00 (bottom) to 1.00 (top), the right axis's with its own range, the step ticks
    under the frame and each axis named below; every line as wide as the panel."""
    from tui.widgets.braille import Axes, Series, draw

    width, height = 60, 14
    axes = Axes((0.0, 100.0), (0.0, 1.0), (10.0, 30.0), [0, 50, 100], ("loss", "step", "accuracy"))
    lines = draw([Series(list(range(101)), [s / 100 for s in range(101)], 39, "left")], axes, width, height)
    text = ["".join(part for part, _ in line) for line in lines]
    assert len(text) == height and all(len(t) == width for t in text), text
    plot = [line for line in lines[1:height - 3]]
    top, bottom = plot[0], plot[-1]
    assert text[1].startswith("1.00┤") and text[height - 4].startswith("0.00┤"), text
    assert text[1].endswith("├30.0") and text[height - 4].endswith("├10.0"), "the right axis has its own range"
    assert top[-2][1] == 39 and top[-2][0][-1] != " ", "the last point: the top row's last cell, in its colour"
    assert bottom[1][1] == 39 and bottom[1][0][0] != " ", "the first point: the bottom row's first cell"
    assert text[-3].count("┬") == 3 and text[-2].split() == ["0", "50", "100"], text[-3:]
    assert text[-1].split() == ["loss", "step", "accuracy"]
    assert all(ch == " " or 0x2800 <= ord(ch) < 0x2900 for t in text[2:height - 4] for ch in t[5:-6]), "braille only"
    flat = draw([Series([0, 10], [2.0, 2.0], 208, "left")], Axes((0.0, 10.0), (2.0, 2.0), None, [0, 10],
                                                                  ("loss", "step", "")), 40, 10)
    assert any(run[1] == 208 for line in flat for run in line), "a flat curve is drawn (inside a range around it)"


def test_an_axis_of_small_values_writes_its_ticks_in_one_notation() -> None:
    """A learning rate from 0.0003 down: every tick in scientific notation with the same digits,
    not `0.0003` beside `7.06e-05`."""
    from tui.widgets.braille import tick_labels

    labels = tick_labels([3e-4, 2.29e-4, 1.59e-4, 7.06e-5], 7.3e-5)
    assert labels == ["3.00e-04", "2.29e-04", "1.59e-04", "7.06e-05"], labels
    assert tick_labels([1.0, 0.5, 0.0], 0.5) == ["1.00", "0.50", "0.00"], "an ordinary axis keeps its decimals"


def test_only_the_changed_cells_of_a_line_are_marked_for_repainting() -> None:
    """A new CPU reading changes the gauge line's bar and value: only those cells are dirty (one
    span each, neighbours within a few cells joined); a style change alone counts; the whole line
    where a character is wider than one cell or the text is cut at the width."""
    from rich.text import Text

    from tui.widgets.line_diff import changed_spans

    def gauge(bar: str, value: str, mem: str) -> Text:
        text = Text("CPU ")
        text.append(bar, style="green")
        text.append(f" {value:>5}   MEM ")
        text.append("████      ", style="green")
        text.append(f" {mem}")
        return text

    before = gauge("███       ", "30 %", "3.2 GiB")
    assert changed_spans(before, gauge("███       ", "30 %", "3.2 GiB"), 80) == []
    assert changed_spans(before, gauge("█████     ", "50 %", "3.2 GiB"), 80) == [(7, 9), (16, 17)], \
        "the bar and the value: two spans"
    assert changed_spans(before, gauge("███       ", "30 %", "3.3 GiB"), 80) == [(40, 41)]
    recoloured = gauge("███       ", "30 %", "3.2 GiB")
    recoloured.spans[0] = recoloured.spans[0]._replace(style="red")
    assert changed_spans(before, recoloured, 80) == [(4, 14)]
    assert changed_spans(Text("ab"), Text("abcd"), 80) == [(2, 4)], "a longer line: its new cells"
    assert changed_spans(Text("abcd"), Text("ab"), 80) == [(2, 4)], "a shorter one: the cells it left"
    assert changed_spans(Text("日本"), Text("日本語"), 80) == [(0, 80)]
    assert changed_spans(Text("x" * 90), Text("y" * 90), 80) == [(0, 80)]


async def test_a_growing_curve_marks_dirty_every_cell_that_changed_and_few_others() -> None:
    """Redrawn on screen, the curves panel marks dirty only spans of the lines that changed: every
    cell whose character or style differs between the two drawings (as Textual renders them
    whole) lies in a marked span, and far fewer cells are marked than the panel has."""
    from textual.app import App
    from textual.geometry import Region
    from textual.visual import Visual, visualize

    from tui.widgets import curves
    from tui.widgets.curve_series import Curves

    class One(App[None]):
        def compose(self):  # type: ignore[no-untyped-def]
            yield curves.CurvePlot()

    def cells(plot: curves.CurvePlot) -> list[list[tuple[str, object]]]:
        """Each cell's character and style (its text offset aside), as Textual renders the whole drawing."""
        width, height = plot.size
        strips = Visual.to_strips(plot, visualize(plot, plot.render()), width, height, plot.visual_style)
        return [[(ch, seg.style and seg.style.clear_meta_and_links()) for seg in strip for ch in seg.text] for strip in strips]

    app = One()
    async with app.run_test(size=(100, 30)) as pilot:
        plot = app.query_one(curves.CurvePlot)
        run: Curves = {"train_loss": [(s, 2.0 / (1 + s / 20)) for s in range(100)],
                       "val_accuracy": [(s, 0.5 + s / 400) for s in range(0, 100, 10)]}
        plot.set_curves(run, "run 7")
        await pilot.pause()
        marked: list[Region] = []
        refresh = plot.refresh
        plot.refresh = lambda *regions, **kw: (marked.extend(regions), refresh(*regions, **kw))[1]  # type: ignore[method-assign]
        for end in (103, 106, 130):
            before = cells(plot)
            run["train_loss"] += [(s, 2.0 / (1 + s / 20)) for s in range(len(run["train_loss"]), end)]
            marked.clear()
            plot._redraw()
            await pilot.pause()
            after = cells(plot)
            changed = {(x, y) for y, (a, b) in enumerate(zip(before, after)) for x, (p, q) in enumerate(zip(a, b)) if p != q}
            assert changed, f"step {end}: the drawing changed"
            missed = sorted((y, x, before[y][x], after[y][x]) for x, y in changed if not any(r.contains(x, y) for r in marked))
            assert not missed, f"step {end}: changed cells not marked: {missed[:4]} {marked}"
            assert sum(r.area for r in marked) < plot.size.width * plot.size.height // 4, f"step {end}: {marked}"
