"""speculative_decoding: a compressed draft proposes tokens, the base model (the target) checks them:
acceptance rate, tokens per second and energy per generated token against plain greedy decoding,
with the output identical.

The program: the ``base`` run decodes with the target alone; every draft run builds its
draft from the base model (INT8 layers, or its first blocks distilled from it), then decodes the
same prompts speculatively and plainly in turn, in the same process.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from contract.events import ResultValues
from contract.jsonvalue import number_at

from ..declare import Experiment, Param, ParamValues, Variant, keys_deliverable, threshold
from ..lm.settings import lm_params
from ..paramread import integer, number, text, texts

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..harness.context import RunContext
    from ..lm.session import LMRun
    from ..lm.speculative import DecodeStats


BASE = "base"
DRAFTS = ("int8", "shallow")
#: prompts decoded per measurement, tokens generated after each, draft distillation steps
PROMPTS = {"smoke": 2, "default": 8, "full": 16}
NEW_TOKENS = {"smoke": 8, "default": 64, "full": 128}
DISTILL_STEPS = {"smoke": 6, "default": 200, "full": 600}
ROLES = {"int8": "draft: the base model with torch.ao dynamic INT8 block layers (compression_pipeline's int8 "
                 "stage): the same function nearly, cheaper only where INT8 kernels are",
         "shallow": "draft: the base model's first decoder blocks (depth-pruned), distilled from it (KL on its "
                    "outputs): a few times cheaper per token, agreeing less"}


def variant_name(draft: str) -> str:
    return f"{draft}-draft"


def plan(values: ParamValues) -> list[Variant]:
    out = [Variant(BASE, {"draft": "none"}, baseline=True,
                   role="the target alone: the pre-trained model (pre-trained here and cached, or the user's), "
                        "plain greedy decoding")]
    for d in dict.fromkeys(texts(values, "drafts")):
        out.append(Variant(variant_name(d), {"draft": d}, depends_on=(BASE,), references=(BASE,),
                           objective="latency", role=ROLES[d] + f"; {integer(values, 'draft_tokens')} draft tokens a step"))
    return out


def headline(values: ParamValues) -> str | None:
    names = [variant_name(d) for d in dict.fromkeys(texts(values, "drafts"))]
    return variant_name("shallow") if variant_name("shallow") in names else (names[0] if names else None)


EXPERIMENT = Experiment(
    name="speculative_decoding",
    title="Speculative decoding: a compressed draft and the base model as target",
    area="inference",
    gain_phase="inference",
    summary="Greedy decoding of the base model (the target) alone, and assisted by a draft (transformers' "
            "assisted generation, a constant number of draft tokens a step): the base model with INT8 "
            "block layers, and its first decoder blocks distilled from it. Acceptance rate, decoding "
            "time per token, tokens per second and energy per generated token, timed against plain "
            "decoding in the same process; the generated tokens compared with plain decoding's.",
    literature="Speculative decoding lets a small draft model propose gamma tokens that the target verifies "
               "in one forward pass; with rejection sampling the output distribution is exactly the "
               "target's, and under greedy decoding the output is identical (Leviathan et al. 2023; Chen et al. "
               "2023). The expected wall-time improvement is (1 - a^(g+1)) / ((1 - a)(g c + 1)) for acceptance "
               "rate a, g draft tokens and draft cost c per token relative to the target: 2-3x on T5-XXL "
               "with T5-small (a 0.6-0.8, c about 0.02) and 2-2.5x on Chinchilla 70B. The gain needs a cheap "
               "draft that agrees often; a draft nearly as costly as the target (c near 1) slows decoding "
               "down, and on a tiny target whose forward pass is dominated by fixed overheads the gain shrinks.",
    references=(
        "Leviathan et al. 2023, Fast Inference from Transformers via Speculative Decoding (ICML)",
        "Chen et al. 2023, Accelerating Large Language Model Decoding with Speculative Sampling (arXiv:2302.01318)",
        "Zhang et al. 2024, Draft & Verify: Lossless Large Language Model Acceleration via Self-Speculative "
        "Decoding (ACL)",
        "Hinton et al. 2015, Distilling the Knowledge in a Neural Network (arXiv:1503.02531)",
    ),
    metrics={"quality": "greedy_token_match", "energy": "energy_inference_kwh", "time": "decode_ms_per_token",
             "size": "model_size_bytes"},
    params=(*lm_params(),
        Param("drafts", "str_list", list(DRAFTS), "draft models: int8 (the base model with torch.ao dynamic "
              "INT8 block layers) and shallow (its first draft_layers blocks, distilled from it)", choices=DRAFTS),
        Param("draft_tokens", "int", 4, "tokens the draft proposes each step (gamma, constant)", min=1, max=64),
        Param("draft_layers", "int", 0, "decoder blocks of the shallow draft; 0 = a quarter of the "
              "target's (at least 1)", min=0, max=64),
        Param("prompts", "int", 0, "prompts decoded (evenly spaced windows of the test split); 0 = the "
              "profile's", min=0, max=1024),
        Param("prompt_tokens", "int", 16, "tokens of each prompt", min=1, max=4096),
        Param("new_tokens", "int", 0, "tokens generated after each prompt; 0 = the profile's", min=0, max=4096),
        Param("rounds", "int", 2, "times each decoding workload is repeated, speculative and plain in turn "
              "(ABBA order); figures are per round", min=1, max=20),
        Param("distill_steps", "int", 0, "optimizer steps distilling the shallow draft (batch: batch_size); "
              "0 = the profile's", min=0, max=10**6),
        Param("distill_lr", "float", 1e-3, "AdamW learning rate of the draft's distillation (cosine, 5 % "
              "warm-up)", min=1e-7, max=1.0),
        Param("temperature", "float", 1.0, "softmax temperature of the distillation KL", min=0.1, max=20.0),
    ),
    deliverables=(keys_deliverable("test_perplexity", "decode_ms_per_token", "decode_tokens_per_s",
                                   "greedy_token_match", "energy_inference_kwh", "energy_per_token_kwh",
                                   "model_size_bytes", "energy_mode", "budget_steps", "diverged"),
                  {**keys_deliverable("acceptance_rate", "draft_agreement", "expected_speedup", "speedup",
                                      "ref_decode_ms_per_token", "ref_energy_inference_kwh", "greedy_identical"),
                   "variant": "shallow-draft"},
                  threshold("greedy_token_match", ">=", 0.99, "shallow-draft")),
    plan_fn=plan,
    table_keys=("acceptance_rate", "speedup", "expected_speedup", "decode_tokens_per_s", "greedy_token_match",
                "energy_per_token_kwh"),
    headline=headline,
    speedup_batch=1,
    no_zoo_model=("speculative decoding changes how the target's tokens are produced, not its weights: the model is"
                  " the unchanged base model (with a draft used only for speed)"),
    extra={"prompts": PROMPTS, "new_tokens": NEW_TOKENS, "distill_steps": DISTILL_STEPS},
)


#: a distillation diverged when its KL passes 10x its start and this floor (as compression_pipeline's)
KL_DIVERGED = 1.0


def prompts(lm: LMRun) -> list[torch.Tensor]:
    """Evenly spaced prompts of the test split (the prompt part of instruction examples)."""
    import torch

    p = lm.ctx.params
    count = integer(p, "prompts", 0) or PROMPTS[lm.ctx.profile]
    width = integer(p, "prompt_tokens")
    enc = lm.encoded()["test"]
    if enc.ids is not None:
        ids = enc.ids
        span = max(1, len(ids) - width)
        starts = [i * span // count for i in range(count)]
        rows = [ids[s:s + width] for s in starts]
    else:
        examples = enc.examples or []
        rows = [torch.tensor(ex[0][:max(1, ex[1])][-width:]) for ex in examples[:count]]
    return [r.to(lm.device)[None, :] for r in rows if len(r)]


def new_tokens(lm: LMRun) -> int:
    return lm.ctx.integer("new_tokens", 0) or NEW_TOKENS[lm.ctx.profile]


def workload(lm: LMRun, target: nn.Module, draft: nn.Module | None, batch: list[torch.Tensor]) -> DecodeStats:
    from ..lm.speculative import DecodeStats, greedy

    eos = int(lm.tokenizer().eos_token_id)
    total = DecodeStats()
    for prompt in batch:
        total.add(greedy(target, prompt, new_tokens(lm), eos, draft))
    return total


def decode_values(stats: DecodeStats, prefix: str = "") -> ResultValues:
    return {f"{prefix}decode_tokens": stats.tokens, f"{prefix}decode_time_s": stats.seconds,
            f"{prefix}decode_tokens_per_s": stats.tokens / stats.seconds if stats.seconds else None,
            f"{prefix}decode_ms_per_token": 1000.0 * stats.seconds / stats.tokens if stats.tokens else None}


def run_plain(lm: LMRun) -> ResultValues:
    """The base run: the model scored as every LM base run, then the decoding workload alone, which
    is this entry's inference energy (the same prompts and tokens as every draft run's)."""
    from ..lm.session import run_base
    from ..lm.speculative import DecodeStats

    values = run_base(lm)
    target = lm.load_base()
    batch = prompts(lm)
    rounds = lm.ctx.integer("rounds")
    workload(lm, target, None, batch[:1])  # warm-up
    total = DecodeStats()
    with lm.ctx.energy.phase("inference"):  # replaces the perplexity workload's phase
        for _ in range(rounds):
            total.add(workload(lm, target, None, batch))
    lm.ctx.energy.rescale("inference", 1 / rounds)
    total = _per_round(total, rounds)
    values.update(decode_values(total))
    values["energy_per_token_kwh"] = _per_token(lm, "inference", total)
    values.update({"draft": "none", "greedy_token_match": 1.0, "greedy_identical": True, "prompts": len(batch),
                   "new_tokens": new_tokens(lm), "rounds": rounds})
    return values


def _per_token(lm: LMRun, phase: str, stats: DecodeStats) -> float | None:
    kwh = lm.ctx.energy.kwh(phase)
    return kwh / stats.tokens if kwh is not None and stats.tokens else None


def _per_round(stats: DecodeStats, rounds: int) -> DecodeStats:
    from ..lm.speculative import DecodeStats

    return DecodeStats(stats.tokens // rounds, stats.seconds / rounds, stats.target_calls // rounds,
                       stats.draft_calls // rounds, stats.proposed // rounds, stats.outputs)


def shallow_draft(lm: LMRun, target: nn.Module) -> tuple[nn.Module, ResultValues]:
    """The target's first blocks, distilled from the whole target by KL on its outputs."""
    from ..lm.distill import Distiller
    from ..lm.speculative import block_count, shallow_copy
    from ..lm.train import config, train_lm, training_values

    p, s = lm.ctx.params, lm.s
    layers = integer(p, "draft_layers", 0) or max(1, block_count(target) // 4)
    draft = shallow_copy(target, layers)
    for q in draft.parameters():
        q.requires_grad_(True)
    steps = integer(p, "distill_steps", 0) or DISTILL_STEPS[lm.ctx.profile]
    wrapper = Distiller(draft, target, number(p, "temperature"))
    cfg = config(steps, s.batch_size, number(p, "distill_lr"), precision=lm.precision)
    with lm.ctx.energy.phase("train"):
        training = train_lm(wrapper, lm.train_batches(), cfg, lm.ctx.events, lm.device,
                            validate=lambda: lm.score(draft, "val"), diverge_floor=KL_DIVERGED, evals=2)
    for q in draft.parameters():
        q.requires_grad_(False)
    values: ResultValues = {k: v for k, v in training_values(training).items() if not k.startswith(("val_", "best_val"))}
    values.update({"draft_layers": layers, "distill_steps": steps, "distill_first_kl": training.first_loss,
                   "distill_final_kl": training.result.train_loss, "diverged": training.result.diverged,
                   "draft_test_perplexity": lm.score(draft, "test").perplexity})
    return draft.eval(), values


def int8_draft(lm: LMRun, target: nn.Module) -> tuple[nn.Module, ResultValues]:
    from ..lm.models import block_linears
    from ..lm.quantize import int8_dynamic

    draft = copy.deepcopy(target).cpu()
    int8_dynamic(draft, [n for n, _ in block_linears(draft)])
    return draft.eval(), {"train_steps": 0, "diverged": False,
                          "draft_test_perplexity": lm.score(draft, "test").perplexity}


def run(ctx: RunContext) -> ResultValues:
    import torch

    from ..harness.measure import serialized_size
    from ..lm.session import LMRun
    from ..lm.speculative import DecodeStats, configure_draft, draft_agreement, expected_speedup, per_token_ms, token_match

    lm = LMRun(ctx)
    p = ctx.params
    if text(p, "draft") == "none":
        return run_plain(lm)
    lm.encoded()
    base = lm.base_result()
    if text(p, "draft") == "int8":
        lm.device = torch.device("cpu")  # torch.ao's dynamic INT8 kernels are CPU kernels
    target = lm.load_base()
    draft, values = (int8_draft if text(p, "draft") == "int8" else shallow_draft)(lm, target)
    gamma = integer(p, "draft_tokens")
    configure_draft(draft, gamma)
    batch, rounds = prompts(lm), integer(p, "rounds")
    workload(lm, target, draft, batch[:1])  # warm-up of both paths
    workload(lm, target, None, batch[:1])
    spec, plain = DecodeStats(), DecodeStats()
    for r in range(rounds):  # ABBA: a drift of the machine falls on both alike
        for which in (("spec", "plain") if r % 2 == 0 else ("plain", "spec")):
            with ctx.energy.phase("inference" if which == "spec" else "ref_inference", accumulate=True):
                (spec if which == "spec" else plain).add(workload(lm, target, draft if which == "spec" else None,
                                                                  batch))
    for phase in ("inference", "ref_inference"):
        ctx.energy.rescale(phase, 1 / rounds)
    spec, plain = _per_round(spec, rounds), _per_round(plain, rounds)
    eos = int(lm.tokenizer().eos_token_id)
    cost = per_token_ms(draft, batch[0], new_tokens(lm), eos) / per_token_ms(target, batch[0], new_tokens(lm), eos)
    alpha = draft_agreement(target, draft, batch, plain.outputs[:len(batch)])
    values.update(decode_values(spec))
    values.update(decode_values(plain, "ref_"))
    values.update(lm.inference(target, phase="target_scoring", latency=False))  # the output's model: the target
    draft_bytes = serialized_size(draft)
    values.update({
        "draft": text(p, "draft"), "draft_tokens": gamma, "prompts": len(batch), "new_tokens": new_tokens(lm),
        "rounds": rounds, "acceptance_rate": spec.acceptance_rate, "accepted_tokens": spec.accepted,
        "proposed_tokens": spec.proposed, "target_calls": spec.target_calls, "draft_calls": spec.draft_calls,
        "tokens_per_target_call": spec.tokens / spec.target_calls if spec.target_calls else None,
        "draft_agreement": alpha, "draft_cost_ratio": cost, "expected_speedup": expected_speedup(alpha, gamma, cost),
        "speedup": plain.seconds / spec.seconds if spec.seconds else None,
        "greedy_token_match": token_match(spec.outputs, plain.outputs),
        "greedy_identical": spec.outputs == plain.outputs,
        "draft_size_bytes": draft_bytes,
        "model_size_bytes": int(number_at(base, "model_size_bytes") or serialized_size(target)) + draft_bytes,
        "budget_steps": int(number_at(base, "budget_steps") or 0) + int(number_at(values, "train_steps") or 0),
        "energy_per_token_kwh": _per_token(lm, "inference", spec),
        "ref_energy_per_token_kwh": _per_token(lm, "ref_inference", plain),
    })
    if text(p, "draft") == "shallow":
        values["distilled_from"] = "base"  # the draft imitates the target; the output is the target's
    values.update(lm.counts(target))
    values["params_trainable"], values["trainable_share"] = 0, 0.0
    return values
