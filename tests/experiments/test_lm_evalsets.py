"""Independent evaluation sets (-p eval=...): named, checked whole with the parameters (every problem
in one answer), scored after training on the run's own model, and told apart from the test split;
their perplexity is the scorer's on exactly that text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from contract.params import ParamError
from experiments.catalog import get
from experiments.lm.corpus import TextSplits
from experiments.lm.evalsets import EvalSet, EvalSetsParam, load_all, parse_items, result_keys, shared_with_train
from experiments.lm.evaluate import score
from experiments.lm.models import load_model, load_tokenizer
from experiments.lm.tokens import Encoded, encode_text
from tests.experiments.test_lm_runs import check_deliverables, local_try, results

TEXT = "But, soft! what light through yonder window breaks? It is the east, and Juliet is the sun.\n" * 8


def param() -> EvalSetsParam:
    return EvalSetsParam("eval", "str", "")


def test_sets_are_named_by_stem_or_explicitly(tmp_path: Path) -> None:
    (tmp_path / "Drop Bench.txt").write_text(TEXT)
    (tmp_path / "gpqa.jsonl").write_text(json.dumps({"instruction": "2+2?", "output": "4"}) + "\n")
    value = param().coerce(f"{tmp_path / 'Drop Bench.txt'}, science={tmp_path / 'gpqa.jsonl'}")
    assert value == f"drop_bench={tmp_path / 'Drop Bench.txt'},science={tmp_path / 'gpqa.jsonl'}"
    sets = load_all(value)
    assert [(s.name, s.kind) for s in sets] == [("drop_bench", "text"), ("science", "instructions")]
    assert param().coerce("") == ""
    assert result_keys("science") == ("eval_science_perplexity", "eval_science_loss", "eval_science_token_accuracy",
                                      "eval_science_tokens", "eval_science_shared_with_train")


def test_every_problem_of_every_set_is_one_answer(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(TEXT)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text(TEXT)
    (tmp_path / "bad.jsonl").write_text('{"instruction": "x", "output": "y"}\nnot json\n')
    given = (f"{tmp_path / 'a.txt'},{tmp_path / 'sub' / 'a.txt'},{tmp_path / 'missing.txt'},"
             f"Bad Name={tmp_path / 'a.txt'},{tmp_path / 'bad.jsonl'}")
    with pytest.raises(ParamError) as err:
        param().coerce(given)
    message = str(err.value)
    assert "\n" not in message
    assert f"{tmp_path / 'missing.txt'} does not exist" in message
    assert "'Bad Name' is not a set name" in message
    assert "two sets are named 'a'; name them apart (NAME=PATH)" in message
    assert "bad.jsonl line 2: not valid JSON" in message
    items, problems = parse_items(f"x={tmp_path / 'a.txt'}")
    assert items == [("x", tmp_path / "a.txt")] and problems == []


def test_a_set_copied_from_the_training_text_is_flagged() -> None:
    train = "ROMEO:\n" + "A line long enough to count as shared with the training text, surely.\n" * 3
    splits = TextSplits("t", train, "", "", "d")
    copied = EvalSet("copy", Path("c.txt"), text=train)
    independent = EvalSet("own", Path("o.txt"), text=TEXT)
    assert shared_with_train(copied, splits) == 1 and shared_with_train(independent, splits) == 0


def test_a_run_scores_each_set_apart_from_the_test_split(lm_cache: Path, tmp_path: Path) -> None:
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "sonnet.txt").write_text(TEXT)
    (sets / "qa.jsonl").write_text("".join(json.dumps({"instruction": f"Say {w}.", "output": f"{w} {w}."}) + "\n"
                                           for w in ("yes", "no", "maybe")))
    out = tmp_path / "out"
    proc = local_try("one_shot_compression", out, lm_cache, f"eval={sets / 'sonnet.txt'},qa={sets / 'qa.jsonl'}",
                     "criteria=sparsegpt", "sparsities=0.5", "patterns=unstructured", "quantizations=awq4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = results(out)
    assert set(res) == {"base", "sparsegpt-50", "awq4"}
    check_deliverables("one_shot_compression", res)
    for name, r in res.items():
        assert r["eval_sets"] == ["sonnet", "qa"], name
        for s in ("sonnet", "qa"):
            assert math.isfinite(r[f"eval_{s}_perplexity"]) and r[f"eval_{s}_perplexity"] > 1
            assert r[f"eval_{s}_perplexity"] == pytest.approx(math.exp(r[f"eval_{s}_loss"]))
            assert r[f"eval_{s}_shared_with_train"] == 0 and r[f"eval_{s}_tokens"] > 0
        assert r["eval_sonnet_perplexity"] != r["test_perplexity"]
    # the base model scoring the same text outside the lab gives the same perplexity
    base = res["base"]
    folder = Path(base["base_model_dir"])
    ids = encode_text(load_tokenizer(folder), TEXT)[:768]  # smoke caps a set as it caps the test split
    got = score(load_model(folder), Encoded(ids=ids), base["context"], base["stride"], torch.device("cpu"))
    assert base["eval_sonnet_tokens"] == got.tokens
    assert base["eval_sonnet_perplexity"] == pytest.approx(got.perplexity, rel=1e-5)
    assert res["sparsegpt-50"]["eval_sonnet_perplexity"] != base["eval_sonnet_perplexity"]


def test_every_language_model_entry_takes_the_sets_and_refuses_a_bad_one(tmp_path: Path) -> None:
    for name in ("lora_rank", "lora_merge", "compression_pipeline", "one_shot_compression", "speculative_decoding",
                 "lm_deployment"):
        exp = get(name)
        assert exp is not None and "eval" in {p.name for p in exp.params}, name
        with pytest.raises(Exception, match=r"eval: .*none\.txt does not exist"):
            exp.validate({"eval": str(tmp_path / "none.txt")})
