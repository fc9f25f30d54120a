"""Issue 22 item 6: the language model's pre-training is a replication factor. Seeds that fine-tune
independently pre-trained bases are grouped by base (`base_replicate` in their results): what the
weights decide is compared over the bases' means, so an interval covers the variation between
bases, and the validator reports the variance components; costs stay paired by seed."""

from __future__ import annotations

import pytest

from contract.rating_record import Breakdown
from db import Run
from science import stats
from science.analysis import analyze
from science.experiment_info import ExperimentInfo
from science.headline import headline_json, headline_text
from tests import rows as store_rows

KEYS = {"quality": "test_perplexity", "energy": "energy_inference_kwh", "time": "latency_b8_ms",
        "size": "model_size_bytes"}
INFO = ExperimentInfo("lora_merge", "adapter", "inference", KEYS, [], {}, headline="merged",
                      objectives={"merged": "latency"}, quality_margin=0.03)
#: each base moves the merge's perplexity change its own way (+-0.6 ppl); seeds add +-0.02
BASE_SHIFT = {0: -0.6, 1: 0.6}


def lm_runs(seeds: int = 6, bases: int = 2, report: bool = True) -> list[Run]:
    runs, i = [], 0
    for seed in range(seeds):
        base = seed % bases
        noise = 0.02 * ((seed * 7) % 3 - 1)
        for name in ("base", "adapter", "merged"):
            i += 1
            ppl = 40.0 + 2.0 * base + (BASE_SHIFT.get(base, 0.0) + noise if name == "merged" else 0.0)
            result = {"seed": seed, "versions": {"torch": "x"}, "energy_mode": "measured", "test_perplexity": ppl,
                      "energy_inference_kwh": 1e-7 * (1 + 0.01 * seed),
                      "latency_b8_ms": 2.0 * (1 + 0.01 * ((seed * 2) % 3)) if name == "merged" else
                      3.0 * (1 + 0.01 * ((seed * 3) % 5)),
                      "model_size_bytes": 1000}
            if report and name == "base":
                result.update(base_replicate=base, bases=bases)
            runs.append(store_rows.run(id=i, variant=name, seed=seed, result=result, run_dir="."))
    return runs


def test_variance_components_by_hand() -> None:
    c = stats.components({"a": 1.0, "b": 3.0, "c": 5.0, "d": 7.0}, {"a": 0, "b": 0, "c": 1, "d": 1})
    # means 2 and 6, grand 4: MS between = 2 (4 + 4) / 1 = 16, MS within = 4 / 2 = 2, n0 = 2
    assert c.means == {0: 2.0, 1: 6.0} and c.within == pytest.approx(2.0) and c.between == pytest.approx(7.0)
    assert c.share == pytest.approx(7 / 9)
    same = stats.components({"a": 1.0, "b": 3.0, "c": 1.0, "d": 3.0}, {"a": 0, "b": 0, "c": 1, "d": 1})
    assert same.between == 0.0 and same.within == pytest.approx(2.0)  # truncated at 0
    assert stats.group_means({"a": 1.0, "b": 4.0}, {"a": 0, "b": 0}, geometric=True) == {0: pytest.approx(2.0)}


def test_the_quality_interval_covers_the_variation_between_bases() -> None:
    by_seed_only = analyze(INFO, lm_runs(report=False), 6).variants["merged"].to_json()
    over_bases = analyze(INFO, lm_runs(), 6).variants["merged"].to_json()
    narrow, wide = by_seed_only["quality_delta"]["ci95"], over_bases["quality_delta"]["ci95"]
    # over seeds alone the +-0.6 ppl of the two bases looks like noise of 6 pairs; over the bases it
    # is what it is: two bases, one each way, an interval with 1 degree of freedom
    assert wide[0] < narrow[0] and wide[1] > narrow[1]
    assert wide[0] < -0.6 and wide[1] > 0.6
    assert over_bases["ci_methods"]["quality_delta"] == "paired_t_bases"
    assert by_seed_only["ci_methods"]["quality_delta"] == "paired_t"
    assert over_bases["n_bases"] == 2 and over_bases["n_pairs"] == 6 and over_bases["quality_delta"]["n"] == 2
    between = over_bases["between_bases"]
    assert between["bases"] == 2 and between["seeds_per_base"] == {"0": 3, "1": 3}
    assert between["per_base"]["0"] == pytest.approx(-0.6, abs=0.05) and between["between_share"] > 0.99
    assert over_bases["ci_methods"]["efficiency_score"] == "paired_t_log_bases"
    # latency is a cost of the architecture, not of the weights: still paired by seed
    assert over_bases["ci_methods"]["speedup"] == "paired_t_log"
    # the variant's own perplexity: over the bases' means (a base that differs is not one sample)
    own, seeds = over_bases["quality"]["ci95"], by_seed_only["quality"]["ci95"]
    assert own[0] < seeds[0] and own[1] > seeds[1] and over_bases["quality"]["mean"] == pytest.approx(
        by_seed_only["quality"]["mean"])
    assert over_bases["between_bases"]["between_var"] > 0


def test_the_validator_names_the_bases_in_its_headline() -> None:
    a = analyze(INFO, lm_runs(), 6)
    h = headline_json(a.headline, "test_perplexity")
    assert h is not None and h["n_bases"] == 2 and h["between_bases"]["bases"] == 2
    assert "over 2 pre-trained base models' means" in headline_text(a.headline, "test_perplexity")


def test_one_base_keeps_the_seed_as_the_unit() -> None:
    a = analyze(INFO, lm_runs(bases=1), 6).variants["merged"].to_json()
    assert "between_bases" not in a and a["ci_methods"]["quality_delta"] == "paired_t"


def test_the_experiment_report_shows_the_variance_between_bases() -> None:
    from records.reports.between_bases import bases_section
    from records.reports.experiment_data import ExperimentData

    a = analyze(INFO, lm_runs(), 6)
    data = ExperimentData(store_rows.experiment(id=1), [], [], Breakdown(variants=a.variants, keys=a.keys), True, None)
    text = "\n".join(bases_section(data, "test_perplexity"))
    assert "2 independently pre-trained bases" in text and "over the bases' means" in text
    row = next(line for line in text.splitlines() if line.startswith("| merged | adapter"))
    assert "0: -0.6" in row and "1: +0.6" in row and "ppl" in row  # each base's change, in its unit
    one = analyze(INFO, lm_runs(bases=1), 6)
    unrated = ExperimentData(store_rows.experiment(id=1), [], [], Breakdown(variants=one.variants, keys=one.keys), True,
                             None)
    assert bases_section(unrated, "test_perplexity") == []


def test_lab_run_says_when_the_seeds_do_not_cross_the_bases_evenly() -> None:
    from science.analysis import bases_note

    assert bases_note({"bases": 2}, 6) is None and bases_note({"bases": 1}, 3) is None and bases_note({}, 3) is None
    assert "only 1 of the 2 pre-trained bases" in (bases_note({"bases": 2}, 1) or "")
    assert "unequal" in (bases_note({"bases": 2}, 3) or "")
    assert bases_note({"bases": 2, "model": "/some/model"}, 3) is None  # a user's model: one base
