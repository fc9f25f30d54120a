"""The language-model text (torch-free): the shipped corpus, its splits, the new domain, a user's
text and instruction records, and the path parameters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.catalog import get
from experiments.declare import ParamListError
from experiments.lm import corpus
from experiments.lm.settings import PROFILES, settings
from tests.experiments.helpers import REPO, env


def test_the_shipped_text_is_tiny_shakespeare_and_loads_without_torch() -> None:
    code = ("import sys; from experiments.lm import corpus; t = corpus.shakespeare_text(); "
            "print(len(t), t.count(chr(10)), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env(), capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["1115394", "40000", "False"]
    assert corpus.SHIPPED.name.endswith(".gz") and corpus.SHIPPED.stat().st_size < 500_000
    assert "public domain" in (corpus.SHIPPED.parent / "SOURCE.md").read_text()


def test_splits_are_by_position_and_cover_the_text_once() -> None:
    pre = corpus.pretraining_corpus()
    dom = corpus.new_domain()
    outside, inside = corpus._partition(corpus.ROMEO_AND_JULIET)
    assert pre.train + pre.val + pre.test == outside
    assert dom.train + dom.val + dom.test == inside
    assert len(pre.train) / len(outside) == pytest.approx(0.9, abs=0.01)
    assert len(dom.val) / len(inside) == pytest.approx(0.1, abs=0.02)
    # the last speech of training comes right before the first of validation: nothing shuffled
    assert outside.index(pre.val) == len(pre.train)
    # reproducible: the same cut and digest every time
    assert corpus.new_domain().digest == dom.digest and corpus.new_domain().val == dom.val


def test_the_new_domain_holds_exactly_the_held_out_speakers() -> None:
    held = {s.casefold() for s in corpus.ROMEO_AND_JULIET}
    dom = corpus.new_domain()
    pre = corpus.pretraining_corpus()
    dom_speakers = {s.speaker.casefold() for s in corpus.speeches(dom.train + dom.val + dom.test)}
    pre_speakers = {s.speaker.casefold() for s in corpus.speeches(pre.train + pre.val + pre.test)}
    assert dom_speakers <= held and {"romeo", "juliet", "nurse"} <= dom_speakers
    assert not (pre_speakers & held)
    share = sum(len(x) for x in (dom.train, dom.val, dom.test)) / len(corpus.shakespeare_text())
    assert 0.08 < share < 0.14


def test_other_held_out_speakers_make_another_domain() -> None:
    dom = corpus.new_domain(["PROSPERO", "miranda"])  # case does not matter
    assert dom.digest != corpus.new_domain().digest
    assert {s.speaker for s in corpus.speeches(dom.train)} <= {"PROSPERO", "MIRANDA"}
    with pytest.raises(corpus.DataError, match="HAMLET never speaks in"):
        corpus.new_domain(["HAMLET"])


def _jsonl(path: Path, records: list, broken: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(r) for r in records]
    for n, text in (broken or {}).items():
        lines[n - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


RECORDS = [{"instruction": f"Say {i} in words.", "input": "" if i % 2 else "politely", "output": f"number {i}"}
           for i in range(20)]


def test_instruction_records_become_prompt_and_response(tmp_path: Path) -> None:
    data = corpus.load_user_data(str(_jsonl(tmp_path / "d.jsonl", RECORDS)))
    assert isinstance(data, corpus.InstructionSplits)
    assert (len(data.train), len(data.val), len(data.test)) == (16, 2, 2)
    first = data.train[0]
    assert first.prompt.startswith("### Instruction:\nSay 0 in words.") and "### Input:\npolitely" in first.prompt
    assert first.prompt.endswith("### Response:\n") and first.response == "number 0"
    assert "### Input" not in data.train[1].prompt
    assert data.test[-1].line == 20


@pytest.mark.parametrize("line, text, message", [
    (3, '{"instruction": "x", "output": ', "line 3: not valid JSON"),
    (5, '["a", "b"]', "line 5: a JSON object expected, got list"),
    (7, '{"instruction": "x"}', 'line 7: missing "output"'),
    (2, '{"instruction": 3, "output": "y"}', 'line 2: "instruction" must be a string'),
    (9, '{"instruction": "x", "output": "  "}', 'line 9: "output" is empty'),
])
def test_a_broken_record_is_named_by_its_line(tmp_path: Path, line: int, text: str, message: str) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", RECORDS, {line: text})
    with pytest.raises(corpus.DataError) as err:
        corpus.load_user_data(str(path))
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_plain_text_is_split_by_position(tmp_path: Path) -> None:
    text = "".join(f"line {i} of my own text\n" for i in range(200))
    (tmp_path / "mine.txt").write_text(text)
    data = corpus.load_user_data(str(tmp_path / "mine.txt"))
    assert isinstance(data, corpus.TextSplits) and data.train + data.val + data.test == text
    (tmp_path / "short.txt").write_text("too short")
    with pytest.raises(corpus.DataError, match="at least 200"):
        corpus.load_user_data(str(tmp_path / "short.txt"))
    (tmp_path / "latin1.txt").write_bytes(b"ok\n" * 100 + b"caf\xe9\n")
    with pytest.raises(corpus.DataError, match="line 101: not UTF-8"):
        corpus.load_user_data(str(tmp_path / "latin1.txt"))


def test_path_parameters_are_made_absolute_and_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = get("lora_rank")
    assert exp is not None
    (tmp_path / "d.txt").write_text("x" * 300)
    (tmp_path / "m").mkdir()
    monkeypatch.chdir(tmp_path)
    values = exp.validate({"data": "d.txt", "model": "m"})
    assert values["data"] == str(tmp_path / "d.txt") and values["model"] == str(tmp_path / "m")
    with pytest.raises(ParamListError, match="domain_speakers: HAMLET, OPHELIA never speak in"):
        exp.validate({"domain_speakers": ["ROMEO", "HAMLET", "OPHELIA"]})
    with pytest.raises(ParamListError) as err:
        exp.validate({"model": "missing", "data": "m"})
    text = str(err.value)
    assert f"model: {tmp_path / 'missing'} does not exist" in text and "data:" in text and "is not a file" in text


def test_profiles_fill_unset_sizes() -> None:
    s = settings({"profile": "smoke", "dim": 32, "heads": 2})
    assert (s.dim, s.heads, s.layers) == (32, 2, PROFILES["smoke"].layers)
    assert s.stride == s.context // 2
    d = settings({"profile": "default"})
    assert d.model_config() == {"vocab_size": 1024, "dim": 128, "layers": 4, "heads": 4, "context": 128}


def test_every_plan_shape_has_valid_references_and_a_headline_when_it_compares() -> None:
    import itertools

    rank_entry, merge_entry = get("lora_rank"), get("lora_merge")
    assert rank_entry is not None and merge_entry is not None
    methods = ("full", "fixed", "adaptive")
    for n in (1, 2, 3):
        for chosen in itertools.combinations(methods, n):
            for ranks in ([8], [16, 4], [8, 16]):
                values = rank_entry.validate({"methods": list(chosen), "ranks": ranks, "allocations": ["empirical"]})
                out = rank_entry.plan_json(values)
                names = [v["name"] for v in out["variants"]]
                assert sum(v["baseline"] for v in out["variants"]) == 1
                assert names[0] == "base" and all(v["depends_on"] == ["base"] for v in out["variants"][1:])
                compared = [v for v in out["variants"] if v["references"]]
                assert all(v["objective"] in ("memory", "quality") for v in compared)
                assert (out["headline"] is None) == (not compared), (chosen, ranks)
    full = rank_entry.plan_json(rank_entry.validate({}))
    assert full["headline"] == "lora-empirical" and full["speedup_batch"] == 8
    by_name = {v["name"]: v for v in full["variants"]}
    assert by_name["lora-empirical"]["references"] == ["lora-r8", "lora-r16"]
    assert by_name["lora-r16"]["references"] == ["full"] and by_name["full"]["baseline"]
    for forms in (["merged"], ["adapter-reloaded"], ["merged-reloaded"], ["merged", "merged-reloaded"]):
        for precisions in (["fp32"], ["bf16"], ["fp32", "bf16"]):
            out = merge_entry.plan_json(merge_entry.validate({"forms": forms, "precisions": precisions}))
            assert out["headline"] in [v["name"] for v in out["variants"] if v["references"]]
    merge = {v["name"]: v for v in merge_entry.plan_json(merge_entry.validate({}))["variants"]}
    assert merge["merged-bf16"]["references"] == ["adapter-bf16", "merged-fp32"]
    # timed interleaved with its own BF16 adapter in one process (issue 22): a dependency of it
    assert merge["merged-bf16"]["depends_on"] == ["base", "adapter", "adapter-bf16"]
    assert merge["merged-fp32"]["depends_on"] == ["base", "adapter"]
    assert merge["base"]["reference"] == "base" and merge["adapter"]["baseline"]
