"""Speculative decoding checked against what it claims: under greedy decoding the output is the
target's own, token for token; its acceptance accounting adds up (a draft identical to the target
has every proposal accepted); the paper's expected speedup formula on hand-computed cases."""

from __future__ import annotations

import pytest
import torch

from experiments.lm.speculative import (
    block_count,
    configure_draft,
    draft_agreement,
    expected_speedup,
    greedy,
    shallow_copy,
    token_match,
)
from tests.experiments.test_lm_compression import tiny_llama

EOS = 95  # a token the random prompts never hold: generation runs to its length


def prompts() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(4)
    return [torch.randint(0, 90, (1, 8), generator=g) for _ in range(3)]


def test_greedy_speculative_output_equals_plain_decoding() -> None:
    target = tiny_llama(layers=4, seed=1).eval()
    draft = shallow_copy(target, 1)
    assert block_count(draft) == 1 and draft.config.num_hidden_layers == 1 and block_count(target) == 4
    configure_draft(draft, 4)
    for prompt in prompts():
        plain = greedy(target, prompt, 24, EOS)
        spec = greedy(target, prompt, 24, EOS, draft)
        assert spec.outputs == plain.outputs and spec.tokens == plain.tokens == 24
        assert plain.target_calls == 24 and plain.proposed == 0  # one forward per token alone
        # every iteration: the accepted proposals plus one token of the target's own
        assert spec.target_calls == spec.tokens - spec.accepted and spec.draft_calls >= spec.target_calls - 1
        assert 0 <= spec.accepted <= spec.proposed <= 4 * spec.draft_calls
    assert not hasattr(draft, "__dict__") or "generate" not in draft.__dict__  # the counter is gone


def test_a_draft_equal_to_the_target_has_every_proposal_accepted() -> None:
    target = tiny_llama(layers=2, seed=2).eval()
    twin = tiny_llama(layers=2, seed=2).eval()
    configure_draft(twin, 3)
    spec = greedy(target, prompts()[0], 20, EOS, twin)
    plain = greedy(target, prompts()[0], 20, EOS)
    assert spec.outputs == plain.outputs
    assert spec.acceptance_rate == 1.0
    assert spec.target_calls == 5  # 20 tokens in steps of 3 accepted + 1 bonus
    assert draft_agreement(target, twin, prompts()[:1], plain.outputs) == 1.0
    # a draft that disagrees (its own random output head): fewer accepted, the same output
    other = tiny_llama(layers=2, seed=7).eval()
    torch.manual_seed(3)
    other.lm_head = torch.nn.Linear(48, 96, bias=False)
    configure_draft(other, 3)
    assert draft_agreement(target, other, prompts()[:1], plain.outputs) < 0.5
    wrong = greedy(target, prompts()[0], 20, EOS, other)
    assert wrong.outputs == plain.outputs and wrong.acceptance_rate is not None and wrong.acceptance_rate < 0.5
    assert wrong.target_calls > spec.target_calls


def test_expected_speedup_is_leviathan_et_al_s_formula() -> None:
    # alpha 0.8, gamma 4, c 0.05: (1 - 0.8^5) / (0.2 x 1.2) = 0.67232 / 0.24
    assert expected_speedup(0.8, 4, 0.05) == pytest.approx(0.67232 / 0.24)
    assert expected_speedup(0.0, 4, 0.1) == pytest.approx(1 / 1.4)  # nothing accepted: only the cost
    assert expected_speedup(1.0, 3, 0.0) == pytest.approx(4.0)


def test_token_match_counts_positions() -> None:
    assert token_match([[1, 2, 3]], [[1, 2, 3]]) == 1.0
    assert token_match([[1, 9, 3], [4]], [[1, 2, 3], [4]]) == pytest.approx(3 / 4)
