"""The language-model harness: shipped text and its splits, a user's text or instruction records,
a byte-level BPE tokenizer, the small default base model pre-trained here (cached), a user's own
Hugging Face model, LM training and perplexity measurements, and LoRA rank allocations.

``corpus`` and ``settings`` are torch-free (the catalog imports them); everything else imports
torch/transformers/peft and is loaded only when a run starts.
"""

import os as _os

# Nothing is ever fetched from a model hub: set before anything imports transformers or peft
# (huggingface_hub reads these once, at import).
for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    _os.environ[_key] = "1"
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
