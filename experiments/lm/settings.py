"""What the language-model entries declare (torch-free): their shared parameters, the budgets of
each profile, and the effective settings of one run (a parameter left at 0 takes the profile's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from contract.jsonvalue import JsonObject
from contract.params import Param, ParamError, ParamValue

from ..declare import ParamValues, common_params, grid_extensions_param
from ..paramread import integer, number, text, texts
from .corpus import ROMEO_AND_JULIET, DataError, check_data_file, check_speakers, resolve_path
from .evalsets import eval_param

#: the probe (and a calibration) draws its own batches: training batches stay paired
PROBE_SEED_OFFSET = 10_000

PRECISIONS = ("auto", "fp32", "bf16")
#: independently pre-trained base models of an LM experiment by default (issue 22 item 6): the base's
#: pre-training is a replication factor, so an interval covers the variation between bases too
DEFAULT_BASES = 2
MAX_BASES = 20
TEXT_DATASETS = ("tinyshakespeare",)


@dataclass(frozen=True)
class Budget:
    """One profile's sizes. Pre-training is cached, so `default` pays it once per machine."""
    vocab_size: int
    dim: int
    layers: int
    heads: int
    context: int
    pretrain_tokens: int
    pretrain_batch: int
    steps: int              # fine-tuning optimizer steps
    batch_size: int         # fine-tuning sequences per step
    probe_steps: int        # batches of the gradient-norm probe (empirical allocation)
    eval_tokens: int        # cap on the tokens scored per split (0 = the whole split)
    gen_tokens: int         # tokens generated to measure generation speed
    max_train_chars: int    # cap on the pre-training text used (0 = all of it)
    latency_reps: int


PROFILES: dict[str, Budget] = {
    "smoke": Budget(vocab_size=384, dim=48, layers=2, heads=2, context=64, pretrain_tokens=12_288,
                    pretrain_batch=8, steps=6, batch_size=4, probe_steps=2, eval_tokens=768,
                    gen_tokens=8, max_train_chars=60_000, latency_reps=3),
    "default": Budget(vocab_size=1024, dim=128, layers=4, heads=4, context=128, pretrain_tokens=1_200_000,
                      pretrain_batch=16, steps=150, batch_size=8, probe_steps=8, eval_tokens=0,
                      gen_tokens=32, max_train_chars=0, latency_reps=20),
    "full": Budget(vocab_size=2048, dim=192, layers=6, heads=6, context=256, pretrain_tokens=8_000_000,
                   pretrain_batch=16, steps=600, batch_size=16, probe_steps=16, eval_tokens=0,
                   gen_tokens=64, max_train_chars=0, latency_reps=50),
}

#: the batch at which latency and inference energy are compared (every variant the same)
SPEEDUP_BATCH = 8


@dataclass(frozen=True)
class PathParam(Param):
    """A path (type "str" in the catalog): ``~`` expanded and a relative path made absolute against
    the folder where the parameters are given, so a run started in its own folder finds it. A path
    that does not exist is refused here, before an experiment is created; what is inside is
    checked by the run, before anything trains."""
    kind: str = "file"   # "file" or "dir"
    expect: str = "a .txt or .jsonl file"
    #: a torch-free check of the contents (raises DataError), so a bad file is refused with the
    #: parameters, before an experiment exists; the run checks again before it trains
    check: Callable[[Path], None] | None = None

    def coerce(self, value: object) -> ParamValue:
        text = str(super().coerce(value))
        if not text.strip():
            return ""
        path = resolve_path(text)
        if not path.exists():
            raise ParamError(self.name, f"{path} does not exist; give {self.expect}")
        if (self.kind == "dir") != path.is_dir():
            raise ParamError(self.name, f"{path} is not {'a folder' if self.kind == 'dir' else 'a file'}; "
                                        f"give {self.expect}")
        if self.check is not None:
            try:
                self.check(path)
            except DataError as exc:
                raise ParamError(self.name, str(exc)) from None
        return str(path)


@dataclass(frozen=True)
class SpeakersParam(Param):
    """Speakers of the shipped text; one who never speaks there is refused with the parameters."""

    def coerce(self, value: object) -> ParamValue:
        given = super().coerce(value)
        speakers = [str(s) for s in given] if isinstance(given, list) else [str(given)]
        try:
            check_speakers(speakers)
        except DataError as exc:
            raise ParamError(self.name, str(exc).removeprefix(f"{self.name}: ")) from None
        return speakers


def bases_param() -> Param:
    """How many independently pre-trained base models an experiment on the default model uses."""
    return Param("bases", "int", DEFAULT_BASES, "independently pre-trained base models of the default model, a "
                 "replication factor: the run of seed s fine-tunes base s mod bases, pre-trained with seed "
                 "pretrain_seed + s mod bases (give a multiple of it as seeds); the validator's intervals are "
                 "over the bases' means and it reports the variance between bases. 1: one base for every seed "
                 "(its variation is then in no interval)", min=1, max=MAX_BASES)


def lm_params() -> list[Param]:
    """The parameters every language-model entry has (issue 12's entries reuse them)."""
    base = [p for p in common_params() if p.name in ("profile", "device")]
    return [*base,
        Param("dataset", "choice", TEXT_DATASETS[0], "the text shipped with the package: Tiny Shakespeare "
              "(pre-training on every speaker but the held-out ones, fine-tuning on theirs); data=PATH "
              "fine-tunes on your own file instead", choices=TEXT_DATASETS),
        PathParam("data", "str", "", "fine-tuning data: empty = Tiny Shakespeare's new domain (the held-out "
              "speakers); or the absolute path of a UTF-8 .txt file, or a .jsonl of Alpaca records "
              "(instruction, input, output; loss on the output only)", check=check_data_file),
        PathParam("model", "str", "", "base model: empty = the small Llama-style model pre-trained here "
              "(cached); or the absolute path of a local Hugging Face causal-LM folder (never downloaded)",
                  kind="dir", expect="the folder of a local Hugging Face causal LM (written by save_pretrained)"),
        Param("lora_targets", "str", "auto", "LoRA target modules: auto (per architecture), attention, "
              "all (attention + MLP), or module names separated by commas (e.g. q_proj,v_proj)"),
        SpeakersParam("domain_speakers", "str_list", list(ROMEO_AND_JULIET), "speakers whose speeches form the "
              "new domain (held out of pre-training); default: the cast of Romeo and Juliet"),
        Param("vocab_size", "int", 0, "BPE vocabulary of the default model's tokenizer; 0 = the profile's",
              min=0, max=65536),
        Param("dim", "int", 0, "default model width; 0 = the profile's", min=0, max=4096),
        Param("layers", "int", 0, "default model decoder layers; 0 = the profile's", min=0, max=64),
        Param("heads", "int", 0, "default model attention heads; 0 = the profile's", min=0, max=64),
        Param("context", "int", 0, "context length in tokens (training and evaluation); 0 = the profile's",
              min=0, max=8192),
        Param("stride", "int", 0, "evaluation stride in tokens (each token scored once, with at least "
              "context - stride tokens before it); 0 = half the context", min=0, max=8192),
        Param("pretrain_tokens", "int", 0, "pre-training budget of the default model in tokens; 0 = the "
              "profile's", min=0, max=10**10),
        Param("pretrain_lr", "float", 3e-3, "AdamW learning rate of pre-training (cosine, 5 % warm-up)",
              min=1e-6, max=1.0),
        Param("pretrain_seed", "int", 0, "seed of the first base model's pre-training (base b is pre-trained "
              "with pretrain_seed + b)", min=0, max=2**31 - 1),
        bases_param(),
        Param("steps", "int", 0, "fine-tuning optimizer steps; 0 = the profile's", min=0, max=10**7),
        Param("batch_size", "int", 0, "fine-tuning sequences per step; 0 = the profile's", min=0, max=4096),
        Param("lr_full", "float", 3e-4, "AdamW learning rate of full fine-tuning", min=1e-7, max=1.0),
        Param("lr_lora", "float", 2e-3, "AdamW learning rate of LoRA adapters", min=1e-7, max=1.0),
        Param("lr_factors", "float_list", [0.5, 1.0, 2.0], "fine-tuning learning rates tried, as multiples "
              "of lr_full / lr_lora: each fine-tuned arm chooses its own on validation loss", min=1e-3, max=1e3),
        grid_extensions_param(),
        Param("precision", "choice", "auto", "auto: BF16 autocast on CUDA, FP32 on CPU", choices=PRECISIONS),
        eval_param(),
    ]


@dataclass(frozen=True)
class LMSettings:
    """The effective settings of one run (profile defaults filled in)."""
    profile: str
    data: str
    model: str
    lora_targets: str
    domain_speakers: tuple[str, ...]
    vocab_size: int
    dim: int
    layers: int
    heads: int
    context: int
    stride: int
    pretrain_tokens: int
    pretrain_batch: int
    pretrain_lr: float
    pretrain_seed: int
    steps: int
    batch_size: int
    lr_full: float
    lr_lora: float
    precision: str
    probe_steps: int
    eval_tokens: int
    gen_tokens: int
    max_train_chars: int
    latency_reps: int
    eval: str = ""          # independent evaluation sets, NAME=PATH items (evalsets.py)
    bases: int = DEFAULT_BASES  # independently pre-trained base models (a replication factor)

    @property
    def user_model(self) -> bool:
        return bool(self.model.strip())

    def model_config(self) -> JsonObject:
        """The default model's architecture (the cache key's first part)."""
        return {"vocab_size": self.vocab_size, "dim": self.dim, "layers": self.layers,
                "heads": self.heads, "context": self.context}

    def to_json(self) -> JsonObject:
        out = asdict(self)
        out["domain_speakers"] = list(self.domain_speakers)
        return out


def settings(params: ParamValues) -> LMSettings:
    profile = text(params, "profile", "default")
    b = PROFILES[profile]

    def own(name: str, fallback: int) -> int:
        return integer(params, name, 0) or fallback

    context = own("context", b.context)
    dim = own("dim", b.dim)
    heads = own("heads", b.heads)
    return LMSettings(
        profile=profile, data=text(params, "data", ""),
        model=text(params, "model", ""), lora_targets=text(params, "lora_targets", "") or "auto",
        domain_speakers=tuple(texts(params, "domain_speakers", []) or ROMEO_AND_JULIET),
        vocab_size=own("vocab_size", b.vocab_size), dim=dim, layers=own("layers", b.layers),
        heads=heads, context=context, stride=own("stride", max(1, context // 2)),
        pretrain_tokens=own("pretrain_tokens", b.pretrain_tokens), pretrain_batch=b.pretrain_batch,
        pretrain_lr=number(params, "pretrain_lr", 3e-3), pretrain_seed=integer(params, "pretrain_seed", 0),
        steps=own("steps", b.steps), batch_size=own("batch_size", b.batch_size),
        lr_full=number(params, "lr_full", 3e-4), lr_lora=number(params, "lr_lora", 2e-3),
        precision=text(params, "precision", "") or "auto", probe_steps=b.probe_steps,
        eval_tokens=b.eval_tokens, gen_tokens=b.gen_tokens, max_train_chars=b.max_train_chars,
        latency_reps=b.latency_reps, eval=text(params, "eval", ""),
        bases=max(1, integer(params, "bases", 0) or DEFAULT_BASES))


def base_replicate(seed: int, bases: int) -> int:
    """The base model a seed fine-tunes (0 .. bases-1): seeds cycle through the bases, so n x bases
    seeds give each base n fine-tuning seeds."""
    return int(seed) % max(1, int(bases))
