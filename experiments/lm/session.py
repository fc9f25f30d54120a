"""One language-model run: its settings, the fine-tuning data, the base model (pre-trained here
and cached, or the user's), fine-tuning with its measurements, and the inference measurements.

The plan of every LM entry starts with a ``base`` run: it checks the fine-tuning data (a bad
record fails it before anything trains), pre-trains the default model or finds it in the cache,
and scores the base model without fine-tuning. Every other run depends on it and loads the
model from the folder its result names (``base_model_dir``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contract.events import ResultValues
from contract.jsonvalue import JsonObject, number_at, required_number, text_at

from ..harness.context import RunContext
from ..harness.errors import ExperimentError
from ..harness.grids import search
from ..harness.measure import PeakMemory
from .cache import build_once, cache_root, folder_bytes, read_json, write_json
from .corpus import Splits, digest, fine_tuning_data, pretraining_corpus
from .evalsets import KEY_PREFIX, EvalSet, encoded_sets, load_all, shared_with_train
from .evaluate import Score, generation_tokens_per_s, latencies_ms, score
from .kept import keep_for_zoo
from .models import (
    MODEL_FILES,
    build_default,
    cached_tokenizer,
    check_model_dir,
    default_config,
    load_model,
    load_tokenizer,
    model_info,
    on_device,
    pretrained,
    stored_sizes,
)
from .settings import SPEEDUP_BATCH, LMSettings, base_replicate, settings
from .tokens import Batches, Encoded, encode, encode_text
from .train import config, train_lm, training_values

BASE = "base"                 # the plan's first run: pre-training (cached) or the user's model
BASE_VERSION = "llama-pretrain-1"
META = "joulelab.json"         # what pre-training recorded, next to the cached model
#: encoded splits of this process (a local try runs every variant in one process)
_ENCODED: dict[tuple[str, str, int, int], dict[str, Encoded]] = {}


class LMRun:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.s: LMSettings = settings(ctx.params)
        self.device = ctx.device
        self.precision = ("bf16" if ctx.device.type == "cuda" else "fp32") if self.s.precision == "auto" \
            else self.s.precision
        self.root = cache_root(ctx.cache_dir)
        self._data: Splits | None = None
        self._tokenizer: Any = None
        self._encoded: dict[str, Encoded] | None = None
        self._base_dir: Path | None = None
        self._eval: list[tuple[EvalSet, Encoded]] | None = None

    # -- data ------------------------------------------------------------------------------------
    def data(self) -> Splits:
        if self._data is None:
            self._data = fine_tuning_data(self.s.data, self.s.domain_speakers)
            self.ctx.events.log(f"fine-tuning data {self._data.name}: {self._data.sizes()}")
        return self._data

    @property
    def base_replicate(self) -> int:
        """Which of the experiment's independently pre-trained base models this run's seed uses."""
        return base_replicate(self.ctx.seed, self.s.bases)

    @property
    def base_seed(self) -> int:
        """The pre-training seed of this run's base model (its initialisation and batch order)."""
        return self.s.pretrain_seed + self.base_replicate

    def base_dir(self) -> Path:
        if self._base_dir is None:
            result = self.ctx.dep(BASE).result or {}
            path = text_at(result, "base_model_dir")
            if not path or not Path(path).is_dir():
                raise ExperimentError(f"the base model of dependency {BASE!r} is missing ({path}); "
                                      f"run the {BASE!r} variant first (its cache may have been removed)")
            self._base_dir = Path(path)
        return self._base_dir

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.base_dir())
        return self._tokenizer

    def encoded(self) -> dict[str, Encoded]:
        if self._encoded is None:
            key = (str(self.base_dir()), self.data().digest, self.s.context, self.s.eval_tokens)
            enc = _ENCODED.get(key)
            if enc is None:
                enc = encode(self.tokenizer(), self.data(), self.s.context)
                for split in ("val", "test"):
                    enc[split] = enc[split].capped(self.s.eval_tokens)
                _ENCODED.clear()
                _ENCODED[key] = enc
            for split, e in enc.items():
                if e.scored_tokens < 1:
                    raise ExperimentError(f"the {split} split of {self.data().name} has no token to score; "
                                          f"give more data")
            self._encoded = enc
        return self._encoded

    def eval_sets(self) -> list[tuple[EvalSet, Encoded]]:
        """The independent evaluation sets (``-p eval``), read, checked and encoded once."""
        if self._eval is None:
            sets = load_all(self.s.eval) if self.s.eval else []
            self._eval = encoded_sets(sets, self.tokenizer(), self.s.context, self.s.eval_tokens) if sets else []
        return self._eval

    def score_eval_sets(self, model: nn.Module, precision: str | None = None) -> ResultValues:
        """Perplexity on each independent evaluation set (after training: nothing reads it before)."""
        if not self.s.eval:
            return {}
        values: ResultValues = {"eval_sets": [es.name for es, _ in self.eval_sets()]}
        for es, enc in self.eval_sets():
            got = score(model, enc, self.s.context, self.s.stride, self.device, precision or self.precision,
                        batch_size=SPEEDUP_BATCH, pad_id=self.pad_id)
            values.update(got.values(f"{KEY_PREFIX}{es.name}"))
            values[f"{KEY_PREFIX}{es.name}_shared_with_train"] = shared_with_train(es, self.data())
        return values

    def load_base(self, dtype: torch.dtype = torch.float32) -> nn.Module:
        return load_model(self.base_dir(), dtype).to(self.device)

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer().pad_token_id)

    def base_result(self) -> ResultValues:
        return self.ctx.dep(BASE).result or {}

    # -- measurements --------------------------------------------------------------------------
    def score(self, model: nn.Module, split: str, precision: str | None = None) -> Score:
        return score(model, self.encoded()[split], self.s.context, self.s.stride, self.device,
                     precision or self.precision, batch_size=SPEEDUP_BATCH, pad_id=self.pad_id)

    def train_batches(self, seed_offset: int = 0) -> Batches:
        return Batches(self.encoded()["train"], self.s.batch_size, self.s.context, self.ctx.seed + seed_offset,
                       self.pad_id)

    def fine_tune(self, make: Callable[[], tuple[nn.Module, ResultValues]], lr: float,
                  remake: Callable[[], Callable[[], tuple[nn.Module, ResultValues]]] | None = None
                  ) -> tuple[nn.Module, ResultValues]:
        """Build the model to train with ``make()`` (e.g. a gradient probe, then the adapters) and
        fine-tune its trainable parameters for the declared steps, both inside the ``train``
        energy phase, so what a method spends before training counts as its training cost.

        With ``remake`` (a new ``make`` on a fresh base model), the arm chooses its own learning
        rate: ``lr`` times each of ``lr_factors``, the lowest validation loss wins, the grid extended
        while the choice sits on an edge (harness/grids.py); the chosen training is the ``train``
        energy phase, the others its selection's cost (``sweep_train_time_s``)."""
        factors = list(dict.fromkeys(self.ctx.numbers("lr_factors", []) or [1.0]))
        if remake is None or len(factors) < 2:
            return self._fine_tune_at(make, lr, "train")
        best: list[Any] = [None, None, math.inf, -1]  # model, values, val loss, index
        spent: list[float] = []

        def evaluate(rate: float) -> float:
            i = len(spent)
            model, values = self._fine_tune_at(make if i == 0 else remake(), rate, f"sweep:{i}")
            spent.append(float(required_number(values, "train_time_s")))
            loss = self.score(model, "val").loss
            loss = loss if math.isfinite(loss) else math.inf
            self.ctx.events.log(f"fine-tuning lr {rate:g}: val loss {loss:.4f}")
            if loss < best[2] or best[0] is None:
                best[:] = [model, values, loss, i]
            return loss

        found = search("lr", [lr * f for f in factors], evaluate,
                       lambda xs: min(range(len(xs)), key=lambda i: (xs[i], i)),
                       extensions=self.ctx.integer("lr_grid_extensions", 0), lo=1e-7, hi=1.0)
        model, values = best[0], dict(best[1])
        self.ctx.energy.promote(f"sweep:{best[3]}", "train")
        values.update({"lr": found.value, "lr_grid_tried": found.tried, "grid_edge": found.edge_note(),
                       "val_loss_by_lr": {f"{r:g}": x for r, x in zip(found.tried, found.results)},
                       "sweep_train_time_s": sum(spent), "fine_tune_points": len(spent)})
        return model, values

    def _fine_tune_at(self, make: Callable[[], tuple[nn.Module, ResultValues]], lr: float, phase: str
                      ) -> tuple[nn.Module, ResultValues]:
        ctx, s = self.ctx, self.s
        self.encoded()
        peak = PeakMemory(self.device)
        peak.reset()
        cfg = config(s.steps, s.batch_size, lr, precision=self.precision)
        with ctx.energy.phase(phase):
            t0 = time.perf_counter()
            model, extra = make()
            setup_s = time.perf_counter() - t0
            training = train_lm(model, self.train_batches(), cfg, ctx.events, self.device,
                                validate=lambda: self.score(model, "val"))
        values = training_values(training)
        values["train_time_s"] = required_number(values, "train_time_s") + setup_s
        values.update(extra)
        values.update(self.counts(model))
        values.update({"setup_time_s": setup_s, "peak_mem_bytes": peak.read(), "lr": lr,
                       "train_cpu_s": ctx.energy.phases[phase].cpu_s,  # robust to a busy machine
                       "batch_size": s.batch_size, "precision": self.precision,
                       "budget_steps": int(number_at(self.base_result(), "budget_steps") or 0) + training.result.train_steps})
        return model, values

    def inference(self, model: nn.Module, phase: str = "inference", precision: str | None = None,
                  latency: bool = True) -> ResultValues:
        """Test perplexity (a fixed workload: the same test tokens for every variant) and greedy
        generation inside the ``inference`` energy phase; then latency at batch 1 and at
        SPEEDUP_BATCH, outside it."""
        precision = precision or self.precision
        enc = self.encoded()["test"]
        prompt = self.prompt()
        with self.ctx.energy.phase(phase):
            t0 = time.perf_counter()
            test = self.score(model, "test", precision)
            eval_s = time.perf_counter() - t0
            gen = generation_tokens_per_s(model, prompt, self.s.gen_tokens, int(self.tokenizer().eos_token_id))
        values = test.values("test")
        values.update({"test_eval_time_s": eval_s, "eval_tokens_per_s": test.tokens / eval_s if eval_s > 0 else None,
                       "gen_tokens_per_s": gen, "gen_tokens": self.s.gen_tokens,
                       "context": self.s.context, "stride": self.s.stride})
        if latency:
            values.update(self.latency({"model": model}, enc))
        if phase == "inference":  # the model's own measurements, not a reference's
            values.update(self.score_eval_sets(model, precision))
            keep_for_zoo(self.ctx, model, self.tokenizer())  # the headline variant's model, for the model zoo
        return values

    def latency_batches(self, enc: Encoded | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        enc = enc or self.encoded()["test"]
        ids = enc.ids if enc.ids is not None else torch.tensor(max((e[0] for e in enc.examples or []), key=len))
        width = min(self.s.context, len(ids))
        row = ids[:width].to(self.device)[None, :]
        return row, row.repeat(SPEEDUP_BATCH, 1)

    def latency(self, models: dict[str, nn.Module], enc: Encoded | None = None) -> ResultValues:
        """latency_b1_ms and latency_b{SPEEDUP_BATCH}_ms of each model, timed interleaved; the
        first model's keys are plain, the others' are prefixed with their name."""
        b1, bn = self.latency_batches(enc)
        reps = self.s.latency_reps
        one = latencies_ms(models, b1, 2, reps)
        many = latencies_ms(models, bn, 2, max(3, reps // 2))
        out: ResultValues = {}
        for i, name in enumerate(models):
            prefix = "" if i == 0 else f"{name}_"
            out[f"{prefix}latency_b1_ms"] = one[name]
            out[f"{prefix}latency_b{SPEEDUP_BATCH}_ms"] = many[name]
        out["latency_tokens"] = int(b1.shape[1])
        out["speedup_batch"] = SPEEDUP_BATCH
        return out

    def prompt(self) -> torch.Tensor:
        enc = self.encoded()["test"]
        n = max(1, min(16, self.s.context - self.s.gen_tokens))
        ids = enc.ids[:n] if enc.ids is not None else torch.tensor((enc.examples or [([0], 0)])[0][0][:n])
        return ids.to(self.device)[None, :]

    @staticmethod
    def counts(model: nn.Module) -> ResultValues:
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return {"params_total": total, "params_trainable": trainable,
                "trainable_share": trainable / total if total else None}

    def save(self, model: nn.Module, name: str, dtype: torch.dtype | None = None) -> tuple[Path, int]:
        """save_pretrained into the run folder; (folder, bytes of weights and config on disk)."""
        path = self.ctx.out_dir / name
        pretrained(model).save_pretrained(str(path))
        self.ctx.events.artifact(name, "model")
        return path, folder_bytes(path, lambda f: bool(MODEL_FILES.match(f.name)))


# -- the base run ----------------------------------------------------------------------------------

def _pretrain(lm: LMRun, folder: Path, tokenizer: Any, corpus_train: str, key: str) -> ResultValues:
    """Pre-train the default model from scratch and save it (with its tokenizer) into ``folder``."""
    ctx, s = lm.ctx, lm.s
    torch.manual_seed(lm.base_seed)  # base b: the same model for every fine-tuning seed that uses it
    model = on_device(build_default(default_config(tokenizer, s.dim, s.layers, s.heads, s.context)), lm.device)
    t0 = time.perf_counter()
    ids = encode_text(tokenizer, corpus_train)
    corpus = pretraining_corpus(s.domain_speakers)
    val = Encoded(ids=encode_text(tokenizer, corpus.val)).capped(s.eval_tokens or 16_384)
    encode_s = time.perf_counter() - t0
    steps = max(1, math.ceil(s.pretrain_tokens / (s.pretrain_batch * s.context)))
    ctx.events.log(f"pre-training the default model ({sum(p.numel() for p in model.parameters()):,} "
                   f"parameters) for {steps} steps of {s.pretrain_batch}x{s.context} tokens "
                   f"({s.pretrain_tokens:,} tokens; {len(ids):,} in the training text)")
    cfg = config(steps, s.pretrain_batch, s.pretrain_lr, weight_decay=0.1, precision=lm.precision)
    batches = Batches(Encoded(ids=ids), s.pretrain_batch, s.context, lm.base_seed, int(tokenizer.pad_token_id))
    peak = PeakMemory(lm.device)
    peak.reset()
    with ctx.energy.phase("train"):
        training = train_lm(model, batches, cfg, ctx.events, lm.device,
                            validate=lambda: score(model, val, s.context, s.stride, lm.device, lm.precision))
    if training.result.diverged:
        raise ExperimentError(f"pre-training diverged at step {training.result.diverged_step}; lower "
                              f"pretrain_lr (now {s.pretrain_lr:g})")
    energy = ctx.energy.phases["train"]
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    values = {f"pretrain_{k}": v for k, v in training_values(training).items()}
    meta: JsonObject = {"key": key, "version": BASE_VERSION, "settings": s.model_config(), "pretrain_steps": steps,
            "pretrain_tokens": training.tokens, "pretrain_lr": s.pretrain_lr, "pretrain_seed": lm.base_seed,
            "pretrain_encode_s": encode_s, "pretrain_peak_mem_bytes": peak.read(),
            "pretrain_energy_kwh": energy.kwh, "pretrain_energy_mode": energy.mode,
            "pretrain_energy_source": energy.source, "precision": lm.precision,
            "device": lm.device.type, "created": time.time(), **values}
    write_json(folder / META, meta)
    return meta


def ensure_base(lm: LMRun) -> tuple[Path, ResultValues, bool]:
    """(folder of the default model, what its pre-training recorded, cache hit?)."""
    s = lm.s
    corpus = pretraining_corpus(s.domain_speakers)
    train_text = corpus.train[:s.max_train_chars] if s.max_train_chars else corpus.train
    text_key = digest(corpus.digest, s.max_train_chars)
    tokenizer, tok_key, tok_hit = cached_tokenizer(lm.root, train_text, text_key, s.vocab_size)
    lm.ctx.events.log(f"tokenizer: byte-level BPE, {len(tokenizer)} tokens, "
                      f"{'from the cache' if tok_hit else 'trained on the pre-training split'} ({tok_key})")
    # base 0 of pretrain_seed 0 keeps the key it had before bases were a replication factor
    key = digest(BASE_VERSION, s.model_config(), tok_key, text_key, s.pretrain_tokens, s.pretrain_batch,
                 s.pretrain_lr, lm.base_seed, lm.precision)
    path = lm.root / f"base-{key}"

    def waiting() -> None:
        lm.ctx.events.log(f"another run is pre-training the same base model; waiting for it ({path})")

    with build_once(path, waiting) as tmp:
        if tmp is not None:
            _pretrain(lm, tmp, tokenizer, train_text, key)
    hit = tmp is None
    meta = read_json(path / META)
    lm.ctx.events.log(f"base model {'found in the cache' if hit else 'pre-trained and cached'}: {path}")
    return path, meta, hit


def run_base(lm: LMRun) -> ResultValues:
    """The ``base`` variant: data checked, base model ready, scored before any fine-tuning."""
    s = lm.s
    lm.data()  # a bad data file fails here, before anything trains
    if s.eval:
        load_all(s.eval)  # and so does a bad evaluation set
    values: ResultValues = {"method": BASE}
    if s.user_model:
        path = Path(s.model)
        check_model_dir(path)
        lm._base_dir = path
        lm.tokenizer()
        values.update({"cache_hit": None, "budget_steps": 0, "pretrained_here": False})
        lm.ctx.events.log(f"base model: the user's {path}; its own pre-training is not counted (budget_steps 0)")
    else:
        path, meta, hit = ensure_base(lm)
        lm._base_dir = path
        values.update({k: v for k, v in meta.items() if k.startswith("pretrain_")})
        values.update({"cache_hit": hit, "budget_steps": int(number_at(meta, "pretrain_steps") or 0),
                       "pretrained_here": True, "base_key": meta.get("key")})
        # the replication factor the validator groups seeds by (agents/analysis.py)
        values.update({"base_replicate": lm.base_replicate, "bases": s.bases})
    built_here = values.get("cache_hit") is False
    # what this run itself trained: pre-training when it built the model, else nothing
    values.update({"train_time_s": values.get("pretrain_train_time_s", 0.0) if built_here else 0.0,
                   "train_steps": values.get("pretrain_steps", 0) if built_here else 0,
                   "loss_spikes": values.get("pretrain_loss_spikes", 0) if built_here else 0,
                   "energy_train_kwh": 0.0})  # the meter's own value replaces it when pre-training ran
    model = lm.load_base()
    values["base_model_dir"] = str(path)
    values.update(model_info(model))
    values.update(lm.counts(model))
    values["params_trainable"], values["trainable_share"] = 0, 0.0
    values["model_size_bytes"] = folder_bytes(path, lambda f: bool(MODEL_FILES.match(f.name)))
    # the FP16/BF16 form too: compression ratios are given against both (issue 22, item 5)
    values.update(stored_sizes(model, values))
    if not s.user_model:
        corpus = pretraining_corpus(s.domain_speakers)
        test = Encoded(ids=encode_text(lm.tokenizer(), corpus.test)).capped(s.eval_tokens)
        values.update({f"pretrain_{k}": v for k, v in
                       score(model, test, s.context, s.stride, lm.device, lm.precision, pad_id=lm.pad_id)
                       .values("test").items()})
    val = lm.score(model, "val")
    values.update(val.values("val"))
    values.update(lm.inference(model))
    values.update({"diverged": False, "vocab_size": len(lm.tokenizer()),
                   "data": lm.data().name, "precision": lm.precision})
    return values
