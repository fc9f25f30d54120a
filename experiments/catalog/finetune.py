"""finetune: the published pipeline document's example job (section 2): fine-tune a causal language
model (``model_name``: a local folder, a config.toml alias, a hub id, or the lab's small model) for
``epochs`` at ``learning_rate`` with ``batch_size``, on the shipped text or the user's, and compare
it with the model it started from."""

from ..declare import Experiment, Variant, common_params, keys_deliverable
from ..finetune.settings import params

BASE = "base"
FINETUNED = "finetuned"


def plan(values: dict) -> list[Variant]:
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
