"""Tokenizers and causal language models: the byte-level BPE trained here, the small Llama-style
default model, a user's local Hugging Face model, and the LoRA target modules of each architecture.

Nothing is fetched from a model hub: ``HF_HUB_OFFLINE`` is set before transformers is imported and
every load passes ``local_files_only=True``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeGuard, TypeVar

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.pytorch_utils import Conv1D
from transformers.utils import logging as hf_logging

from contract.events import ResultValues
from contract.jsonvalue import required_number

from ..harness.errors import ExperimentError
from .cache import build_once
from .corpus import digest

# run logs are events, not progress bars on stderr (transformers' logging functions are unannotated)
hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

EOS = "<|endoftext|>"
TOKENIZER_VERSION = "bytelevel-bpe-1"
#: weights and config files of a saved model or adapter (what "size on disk" counts; not the tokenizer)
MODEL_FILES = re.compile(r"(.*\.safetensors|.*\.bin|config\.json|adapter_config\.json|generation_config\.json)$")


class ModelError(ExperimentError):
    """A user's model cannot be used; one line naming the folder."""


# -- tokenizers -------------------------------------------------------------------------------

def train_tokenizer(text: str, vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 style: any text encodes, no unknown token) with one special token
    that ends documents and pads batches."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.split("\n"), trainer)
    # transformers' tokenizer constructor is unannotated
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, bos_token=EOS,  # type: ignore[no-untyped-call]
                                   model_max_length=1 << 30)


def cached_tokenizer(root: Path, text: str, text_key: str, vocab_size: int) -> tuple[PreTrainedTokenizerFast, str, bool]:
    """(tokenizer, its cache key, whether it was already cached)."""
    key = digest(TOKENIZER_VERSION, text_key, vocab_size)
    path = root / f"tokenizer-{key}"
    with build_once(path) as tmp:
        if tmp is not None:
            train_tokenizer(text, vocab_size).save_pretrained(str(tmp))
    hit = tmp is None
    return PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True), key, hit


# -- the default model --------------------------------------------------------------------------

def default_config(tokenizer: PreTrainedTokenizerBase, dim: int, layers: int, heads: int, context: int) -> LlamaConfig:
    """A small Llama (RMSNorm, rotary positions, SwiGLU MLP of 8/3 x width, tied embeddings)."""
    if dim % heads:
        raise ExperimentError(f"dim {dim} is not divisible by heads {heads}; choose e.g. heads=4 for dim=128")
    eos = tokenizer.eos_token_id
    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=dim, intermediate_size=8 * ((8 * dim // 3 + 7) // 8),
                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                       max_position_embeddings=context, rms_norm_eps=1e-5, tie_word_embeddings=True,
                       bos_token_id=eos, eos_token_id=eos, pad_token_id=eos, initializer_range=0.02)


def build_default(config: LlamaConfig) -> LlamaForCausalLM:
    return LlamaForCausalLM(config)


# -- loading a model folder (the cached base model or a user's) ----------------------------------

def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + "...") if len(text) > 300 else text or type(exc).__name__


def check_model_dir(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"model {path} does not exist: give the folder of a Hugging Face causal LM "
                         f"(config.json and weights, as written by save_pretrained)")
    if not path.is_dir():
        raise ModelError(f"model {path} is not a folder: give the folder written by save_pretrained, "
                         f"not a single file")
    if not (path / "config.json").is_file():
        raise ModelError(f"model {path} has no config.json: not a Hugging Face model folder "
                         f"(save it with model.save_pretrained(PATH))")


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError ... for bad folders
        raise ModelError(f"model {path}: its tokenizer cannot be loaded ({_one_line(exc)}); save it "
                         f"next to the model with tokenizer.save_pretrained(PATH)") from None
    if tok.eos_token_id is None:
        raise ModelError(f"model {path}: its tokenizer has no end-of-sequence token (eos_token)")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


#: buffers a model keeps in FP32 whatever its weights' dtype: ``from_pretrained(dtype=...)``
#: recomputes RoPE's inverse frequencies in FP32, while ``.to(bf16)`` would round them
FP32_BUFFERS = ("inv_freq", "original_inv_freq")


M = TypeVar("M", bound=nn.Module)


class Pretrained(Protocol):
    """A transformers model, or a peft model around one: what the programs generate with and save.
    (nn.Module's attribute fallback types a model's own methods as `Tensor | Module`; this says
    what they are. Generation answers a tensor or transformers' output object, as its arguments say.)"""

    def generate(self, *args: Any, **kwargs: Any) -> Any: ...

    def save_pretrained(self, save_directory: str, *args: Any, **kwargs: Any) -> Any: ...

    def get_input_embeddings(self) -> nn.Module: ...

    def get_output_embeddings(self) -> nn.Module: ...


def _is_pretrained(model: nn.Module) -> TypeGuard[Pretrained]:
    # by hasattr, which reaches a peft model's forwarded methods (a runtime_checkable protocol
    # reads attributes statically from Python 3.12 on, and would not)
    return all(hasattr(model, name) for name in
               ("generate", "save_pretrained", "get_input_embeddings", "get_output_embeddings"))


def pretrained(model: nn.Module) -> Pretrained:
    """``model`` as the transformers (or peft) model it is; ModelError for any other module."""
    if not _is_pretrained(model):
        raise ModelError(f"a {type(model).__name__} is not a transformers model: it cannot generate or be saved")
    return model


def transformers_model(model: nn.Module) -> PreTrainedModel:
    """``model`` as the transformers model it is; ModelError for any other module."""
    if not isinstance(model, PreTrainedModel):
        raise ModelError(f"a {type(model).__name__} is not a transformers model")
    return model


def config_of(model: nn.Module) -> PreTrainedConfig:
    """A transformers model's configuration (a peft model's: its base model's)."""
    config = getattr(model, "config", None)
    if not isinstance(config, PreTrainedConfig):
        raise ModelError(f"a {type(model).__name__} has no transformers configuration")
    return config


def on_device(model: M, device: torch.device) -> M:
    """``model`` moved to ``device`` in place by its own `to` (transformers' for its models, whose
    decorator mypy reads as an unbound function; typed here as torch's)."""
    module: nn.Module = model
    module.to(device)
    return model


def to_precision(model: M, dtype: torch.dtype) -> M:
    """``model`` with its weights and buffers in ``dtype``, built the way a model saved and
    reloaded in ``dtype`` is (RoPE's ``inv_freq`` stays FP32): a form merged in memory and the
    same form reloaded from disk then give the same logits (issue 22)."""
    keep = {name: buf.detach().clone() for name, buf in model.named_buffers()
            if name.rsplit(".", 1)[-1] in FP32_BUFFERS}
    model = model.to(dtype)
    for name, buf in keep.items():
        owner, _, attr = name.rpartition(".")
        module = model.get_submodule(owner) if owner else model
        held = module._buffers[attr]
        module._buffers[attr] = buf.to(buf.device if held is None else held.device)
    return model


def half_precision_bytes(model: nn.Module, fp32_bytes: int) -> int:
    """The bytes of ``model``'s folder (``fp32_bytes`` as saved in FP32) were it saved in FP16/BF16:
    every FP32 tensor of its state (tied ones once, as save_pretrained writes them) at 2 bytes
    instead of 4; safetensors' header names both dtypes in 3 characters, so nothing else moves.
    The base the literature compares compressed LMs with (issue 22, item 5)."""
    seen, halved = set(), 0
    for tensor in model.state_dict().values():
        key = (tensor.data_ptr(), tensor.numel())
        if tensor.dtype == torch.float32 and key not in seen:
            seen.add(key)
            halved += 2 * tensor.numel()
    return fp32_bytes - halved


def bits_per_weight(size_bytes: int, weights: int) -> float | None:
    """Stored bits per weight of the original model (all of its parameters, every file counted)."""
    return 8 * size_bytes / weights if weights else None


def stored_sizes(model: nn.Module, values: ResultValues) -> ResultValues:
    """The model's size were it stored in FP16/BF16, and its bits per weight, from the stored size
    and the parameter count its result ``values`` hold."""
    size = int(required_number(values, "model_size_bytes"))
    return {"model_size_fp16_bytes": half_precision_bytes(model, size),
            "bits_per_weight": bits_per_weight(size, int(required_number(values, "params_total")))}


def load_model(path: Path, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A causal LM from a local folder; a clear one-line error for anything that is not one."""
    check_model_dir(path)
    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"model {path}: config.json cannot be read ({_one_line(exc)})") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    except Exception as exc:
        raise ModelError(f"model {path} ({getattr(config, 'model_type', '?')}) cannot be loaded as a "
                         f"causal LM: {_one_line(exc)}") from None
    model.config.use_cache = True
    return model


# -- LoRA targets ---------------------------------------------------------------------------------

#: every projection of attention and MLP, per architecture (QLoRA's "all linear layers")
ALL_LINEAR = {
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "qwen3": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "gemma": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "gemma2": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "gpt2": ("c_attn", "c_proj", "c_fc"),
    "gpt_bigcode": ("c_attn", "c_proj", "c_fc"),
    "gpt_neox": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "falcon": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "bloom": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "opt": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    "gptj": ("q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"),
    "gpt_neo": ("q_proj", "k_proj", "v_proj", "out_proj", "c_fc", "c_proj"),
    "phi": ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
}
_ATTENTION_PARTS = ("attn", "attention")
_LAYER_INDEX = re.compile(r"\.(\d+)\.")


@dataclass(frozen=True)
class Target:
    """One module LoRA adapts."""
    name: str      # full module path in the base model, e.g. model.layers.0.self_attn.q_proj
    kind: str      # "attention" or "mlp"
    layer: int     # decoder block index
    d_in: int
    d_out: int

    @property
    def cost(self) -> int:
        """Trainable parameters per unit of rank: A is r x d_in, B is d_out x r."""
        return self.d_in + self.d_out


def _dims(module: nn.Module) -> tuple[int, int] | None:
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    if isinstance(module, Conv1D):  # GPT-2's transposed linear: weight is (in, out)
        return int(module.weight.shape[0]), int(module.weight.shape[1])
    return None


def _kind(name: str) -> str:
    parts = name.lower().split(".")
    return "attention" if any(a in p for p in parts[:-1] for a in _ATTENTION_PARTS) \
        or parts[-1] in ("q_proj", "k_proj", "v_proj", "o_proj", "c_attn", "qkv_proj", "query_key_value") \
        else "mlp"


def block_linears(model: nn.Module) -> list[tuple[str, nn.Linear | Conv1D]]:
    """Linear layers inside numbered decoder blocks (not the embeddings or the output head)."""
    out: list[tuple[str, nn.Linear | Conv1D]] = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, Conv1D)) and _LAYER_INDEX.search(f".{name}."):  # as `_dims`
            out.append((name, module))
    return out


def weight_of(module: nn.Module) -> torch.Tensor:
    """The weight tensor of a linear layer (nn.Linear, GPT-2's Conv1D, a layer of these programs')."""
    weight = module.weight
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"a {type(module).__name__} holds no weight tensor")
    return weight


def target_suffixes(model: nn.Module, spec: str, default: str) -> tuple[str, ...]:
    """The module names LoRA adapts: ``spec`` is auto (then ``default``), attention, all, or names."""
    spec = (spec or "auto").strip()
    choice = default if spec == "auto" else spec
    model_type = getattr(model.config, "model_type", "")
    linears = [name for name, _ in block_linears(model)]
    present = {name.rsplit(".", 1)[-1] for name in linears}
    if choice == "attention":
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS
        names = PEFT_TARGETS.get(model_type)
        if isinstance(names, (list, tuple)):
            names = tuple(n for n in names if n in present)
        if not names:
            names = tuple(sorted({n.rsplit(".", 1)[-1] for n in linears if _kind(n) == "attention"}))
    elif choice == "all":
        names = tuple(n for n in ALL_LINEAR.get(model_type, ()) if n in present) or tuple(sorted(present))
    else:
        names = tuple(n.strip() for n in choice.split(",") if n.strip())
        missing = [n for n in names if n not in present]
        if missing:
            raise ModelError(f"lora_targets: no linear layer named {', '.join(missing)} in this "
                             f"{model_type or 'model'} (its layers: {', '.join(sorted(present))})")
    if not names:
        raise ModelError(f"lora_targets: no LoRA target found in this {model_type or 'model'}; name the "
                         f"modules, e.g. lora_targets=q_proj,v_proj (its layers: {', '.join(sorted(present))})")
    return tuple(names)


def targets(model: nn.Module, suffixes: tuple[str, ...]) -> list[Target]:
    out = []
    for name, module in block_linears(model):
        if name.rsplit(".", 1)[-1] in suffixes:
            d_in, d_out = _dims(module)  # type: ignore[misc]
            layer = int(_LAYER_INDEX.search(f".{name}.").group(1))  # type: ignore[union-attr]
            out.append(Target(name, _kind(name), layer, d_in, d_out))
    return out


def model_info(model: nn.Module) -> ResultValues:
    cfg = model.config
    return {"model_type": getattr(cfg, "model_type", None), "architecture": type(model).__name__,
            "n_layers": getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", None),
            "hidden_size": getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None)}
