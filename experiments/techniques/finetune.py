"""finetune: the published pipeline document's example job (section 2): fine-tune a causal language
model (``model_name``: a local folder, a config.toml alias, a hub id, or the lab's small model) for
``epochs`` at ``learning_rate`` with ``batch_size``, on the shipped text or the user's, and compare
it with the model it started from.

The program: the ``base`` run scores the model as given (and finds it: the lab's small model
pre-trained and cached, a local folder, or a hub download); the ``finetuned`` run trains every
parameter for the declared epochs and writes the published document's deliverables under
``output/`` (and, with ``wandb_project``, an offline W&B run with the config, the metric history
and the model as an artifact).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from contract.events import ResultValues
from contract.jsonvalue import number_at

from ..data_versions import as_json, text_data
from ..declare import Experiment, ParamValues, Variant, common_params, keys_deliverable
from ..finetune.settings import FTSettings, params, settings
from ..harness.errors import ExperimentError

if TYPE_CHECKING:
    from ..harness.context import RunContext
    from ..lm.evaluate import Score
    from ..lm.tokens import Encoded


BASE = "base"
FINETUNED = "finetuned"


def plan(values: ParamValues) -> list[Variant]:
    return [Variant(BASE, {"train": False}, baseline=True,
                    role="the model as given, scored on the same held-out text before any fine-tuning"),
            Variant(FINETUNED, {"train": True}, depends_on=(BASE,), references=(BASE,), objective="quality",
                    role="the model fine-tuned on the training split (what a fine-tune's deliverables are about)")]


EXPERIMENT = Experiment(
    name="finetune",
    title="Fine-tuning a causal language model (the pipeline document's example)",
    area="fine-tuning",
    gain_phase="training",
    summary="Full fine-tuning of a causal LM with AdamW for a number of epochs at a learning rate and batch "
            "size, optionally with gradient checkpointing and mixed precision; writes the final model, its "
            "metrics and their histories, the evaluation results and the training curves, and scores it "
            "against the model it started from on the same held-out text (next-token accuracy and loss).",
    literature="Fine-tuning a pre-trained language model on in-domain text lowers its held-out loss on that "
               "domain within a few epochs (Howard & Ruder 2018; Gururangan et al. 2020, domain-adaptive "
               "pre-training); too high a learning rate or too many epochs overfit a small corpus, which shows "
               "as a validation loss that rises while the training loss falls. Gradient checkpointing trades "
               "about one extra forward pass for activation memory (Chen et al. 2016); BF16 autocast keeps "
               "FP32 master weights and usually changes the loss only in its later digits (Kalamkar et al. 2019).",
    references=(
        "Howard & Ruder 2018, Universal Language Model Fine-tuning for Text Classification (ACL)",
        "Gururangan et al. 2020, Don't Stop Pretraining: Adapt Language Models to Domains and Tasks (ACL)",
        "Chen et al. 2016, Training Deep Nets with Sublinear Memory Cost (arXiv:1604.06174)",
        "Kalamkar et al. 2019, A Study of BFLOAT16 for Deep Learning Training (arXiv:1905.12322)",
        "Radford et al. 2019, Language Models are Unsupervised Multitask Learners (GPT-2)",
    ),
    metrics={"quality": "final_accuracy", "energy": "energy_kwh", "time": "train_time_s",
             "size": "model_size_bytes"},
    params=tuple(p for p in common_params() if p.name in ("profile", "device")) + tuple(params()),
    deliverables=(keys_deliverable("final_accuracy", "eval_loss", "test_loss", "energy_kwh", "data_versions"),
                  {**keys_deliverable("train_loss", "train_time_s", "epochs"), "variant": FINETUNED},
                  {"kind": "exists_and_loadable", "path": "output/final_model", "variant": FINETUNED},
                  {"kind": "contains_keys", "path": "output/metrics.json", "variant": FINETUNED,
                   "keys": ["train_loss", "eval_loss", "final_accuracy"]}),
    plan_fn=plan,
    table_keys=("final_accuracy", "eval_loss", "train_loss", "test_perplexity", "epochs"),
    headline=FINETUNED,
    deliverables_variant=FINETUNED,
)


SCORE_BATCH = 8


class FineTune:
    def __init__(self, ctx: RunContext) -> None:
        from ..finetune.loop import precision_of
        from ..lm.session import LMRun

        self.ctx = ctx
        self.s: FTSettings = settings(ctx.params)
        self.lm = LMRun(ctx)  # the data, the tokenizer and the cache, shared with the LM entries
        self.precision = precision_of(self.s.mixed_precision, ctx.device)

    def splits(self) -> dict[str, Encoded]:
        enc = self.lm.encoded()
        train = enc["train"].capped(self.s.max_train_tokens)
        return {"train": train, "val": enc["val"], "test": enc["test"]}

    def score(self, model: Any, data: Encoded) -> Score:
        from ..lm.evaluate import score

        autocast = "bf16" if self.precision == "bf16" else "fp32"
        return score(model, data, self.s.context, max(1, self.s.context // 2), self.ctx.device, autocast,
                     batch_size=SCORE_BATCH, pad_id=self.lm.pad_id)

    def evaluate(self, model: Any, splits: dict[str, Encoded]) -> tuple[Score, Score, ResultValues]:
        """Validation and test scores; the test pass is the run's measured inference."""
        val = self.score(model, splits["val"])
        with self.ctx.energy.phase("inference"):
            t0 = time.perf_counter()
            test = self.score(model, splits["test"])
            seconds = time.perf_counter() - t0
        values: ResultValues = {"eval_loss": val.loss, "eval_accuracy": val.accuracy, "final_accuracy": test.accuracy,
                  "test_loss": test.loss, "test_perplexity": test.perplexity, "test_token_accuracy": test.accuracy,
                  "test_tokens": test.tokens, "eval_time_s": seconds}
        return val, test, values

    def common(self, model: Any) -> ResultValues:
        from ..lm.models import model_info
        from ..lm.session import LMRun

        s = self.s
        return {**model_info(model), **LMRun.counts(model), "data": self.lm.data().name,
                "data_versions": as_json(text_data(s.data)), "context": s.context, "precision": self.precision,
                "learning_rate": s.learning_rate, "batch_size": s.batch_size, "model_name": s.model_name}

    def run_base(self) -> ResultValues:
        from ..finetune import outputs
        from ..finetune.source import model_folder
        from ..lm.cache import folder_bytes
        from ..lm.models import MODEL_FILES, load_model

        self.lm.data()  # a bad data file fails here, before anything else
        folder, where = model_folder(self.lm, self.s.model_name)
        self.lm._base_dir = folder
        model = load_model(folder).to(self.ctx.device)
        splits = self.splits()
        val, test, values = self.evaluate(model, splits)
        outputs.write(self.ctx.out_dir, None, val, test)
        values.update(where)
        values.update(self.common(model))
        # budget_steps 0: the base receives none of the fine-tuning steps, so the validator's budget
        # check sees a reference with no budget (a premise check, not a fair control)
        values.update({"base_model_dir": str(folder), "train_time_s": 0.0, "train_steps": 0, "epochs": 0,
                       "budget_steps": 0, "train_loss": None, "energy_train_kwh": 0.0,
                       "model_size_bytes": folder_bytes(folder, lambda f: bool(MODEL_FILES.match(f.name)))})
        return values

    def run_finetuned(self) -> ResultValues:
        from ..finetune import outputs, tracking
        from ..finetune.loop import LoopConfig, train
        from ..harness.measure import PeakMemory
        from ..lm.cache import folder_bytes
        from ..lm.models import MODEL_FILES, load_model, on_device, transformers_model

        ctx, s = self.ctx, self.s
        base = ctx.dep(BASE).result or {}
        model = on_device(transformers_model(load_model(self.lm.base_dir())), ctx.device)
        if s.gradient_checkpointing:
            if not getattr(model, "supports_gradient_checkpointing", False):
                raise ExperimentError(f"{type(model).__name__} does not support gradient checkpointing; run "
                                      "without gradient_checkpointing")
            # transformers' method is unannotated
            model.gradient_checkpointing_enable(  # type: ignore[no-untyped-call]
                gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False
        splits = self.splits()
        run = tracking.start(ctx, s, {**ctx.params, "precision": self.precision})
        cfg = LoopConfig(s.epochs, s.batch_size, s.learning_rate, s.weight_decay, self.precision, ctx.seed,
                         self.lm.pad_id, s.context)
        peak = PeakMemory(ctx.device)
        peak.reset()
        with ctx.energy.phase("train"):
            history = train(model, splits["train"], cfg, ctx.device, tracking.Events(ctx.events, run),
                            lambda: self.score(model, splits["val"]))
        peak_bytes = peak.read()
        if history.diverged_step is not None:
            raise ExperimentError(f"the loss diverged at step {history.diverged_step}; lower learning_rate "
                                  f"(now {s.learning_rate:g})")
        model.config.use_cache = True
        folder = ctx.out_dir / outputs.OUTPUT / outputs.FINAL_MODEL
        model.save_pretrained(str(folder))
        self.lm.tokenizer().save_pretrained(str(folder))
        ctx.events.artifact(f"{outputs.OUTPUT}/{outputs.FINAL_MODEL}", "model")
        val, test, values = self.evaluate(model, splits)
        files = outputs.write(ctx.out_dir, history, val, test)
        for path in files:
            ctx.events.artifact(str(path.relative_to(ctx.out_dir)), "metrics" if path.suffix == ".json" else "figure")
        values.update(self.common(model))
        values.update({
            "train_loss": history.train_loss[-1], "best_eval_accuracy": max(history.accuracy),
            "epochs": len(history.epoch), "train_steps": history.steps, "train_tokens": history.tokens,
            "train_time_s": history.train_time_s, "epoch_eval_time_s": history.eval_time_s,
            "train_tokens_per_s": history.tokens / history.train_time_s if history.train_time_s > 0 else None,
            "peak_mem_bytes": peak_bytes, "gradient_checkpointing": s.gradient_checkpointing,
            "model_size_bytes": folder_bytes(folder, lambda f: bool(MODEL_FILES.match(f.name))),
            "final_model_dir": str(folder), "base_model_dir": str(self.lm.base_dir()),
            "model_source": base.get("model_source"), "loss_history": history.to_json(),
            "budget_steps": int(number_at(base, "budget_steps") or 0) + history.steps})
        values.update(tracking.finish(run, folder, values))
        return values


def run(ctx: RunContext) -> ResultValues:
    job = FineTune(ctx)
    return job.run_finetuned() if ctx.params.get("train") else job.run_base()
