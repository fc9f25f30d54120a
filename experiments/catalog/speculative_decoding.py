"""speculative_decoding: a compressed draft proposes tokens, the base model (the target) checks them:
acceptance rate, tokens per second and energy per generated token against plain greedy decoding,
with the output identical."""

from __future__ import annotations

from ..declare import Experiment, Param, Variant, keys_deliverable, threshold
from ..lm.settings import lm_params

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


def plan(values: dict) -> list[Variant]:
    out = [Variant(BASE, {"draft": "none"}, baseline=True,
                   role="the target alone: the pre-trained model (pre-trained here and cached, or the user's), "
                        "plain greedy decoding")]
    for d in dict.fromkeys(values["drafts"]):
        out.append(Variant(variant_name(d), {"draft": d}, depends_on=(BASE,), references=(BASE,),
                           objective="latency", role=ROLES[d] + f"; {values['draft_tokens']} draft tokens a step"))
    return out


def headline(values: dict) -> str | None:
    names = [variant_name(d) for d in dict.fromkeys(values["drafts"])]
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
    params=tuple(lm_params()) + (
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
    extra={"prompts": PROMPTS, "new_tokens": NEW_TOKENS, "distill_steps": DISTILL_STEPS},
)
