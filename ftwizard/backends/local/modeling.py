"""Loading the base model and tokenizer for LoRA training or for generation (hub id, local folder, or GGUF).

`check_model_available` is light (no torch) and runs in `preflight` (`resolve_base`, where the files are, is
`ftwizard.modelfiles`'); `load_for_training`
and `load_for_inference` import torch / transformers / peft inside themselves.

Padding: many models have no pad token, and the usual fix (pad = eos) makes a collator that masks labels by
token id never learn the EOS. We add EOS to the text ourselves and mask padding by the attention mask
(see data.py), so pad = eos is safe. Training pads on the right; generation pads on the left.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwizard.errors import UsageError
from ftwizard.modelfiles import BaseSource, resolve_base

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

HUB_HELP = (
    "make it available: on a machine with network run `hf download {id}` (accept its licence on "
    "huggingface.co and `hf auth login` first if it is gated), copy the downloaded folder here and set "
    "model.base to that folder - or copy the Hugging Face cache and point HF_HOME at it"
)


def check_model_available(recipe: "Recipe") -> BaseSource:
    """Preflight: a local source must exist; a hub id must be cached or reachable. Raises one UsageError."""
    src = resolve_base(recipe)
    if src.kind != "hub":
        return src
    model_id = src.path
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # noqa: BLE001 - an invalid id is reported below
        cached = None
    if isinstance(cached, str):
        return src
    from ftwizard.catalog import hub_offline

    if hub_offline():
        raise UsageError(f"model.base = `{model_id}` cannot be loaded: it is not in the local Hugging Face cache and "
                         f"HF_HUB_OFFLINE is set; " + HUB_HELP.format(id=model_id))
    try:
        from huggingface_hub import model_info
        from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

        model_info(model_id, timeout=15)
    except GatedRepoError:
        raise UsageError(f"model.base = `{model_id}` is gated: accept its licence on https://huggingface.co/{model_id} "
                         f"and log in (`hf auth login`, or set HF_TOKEN), or " + HUB_HELP.format(id=model_id)) from None
    except RepositoryNotFoundError:
        raise UsageError(f"model.base = `{model_id}`: no such model on huggingface.co (a typo? a private repo needs "
                         f"HF_TOKEN); " + HUB_HELP.format(id=model_id)) from None
    except HFValidationError as e:
        raise UsageError(f"model.base = `{model_id}` is neither a folder nor a valid Hugging Face id ({e})") from None
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        raise UsageError(f"model.base = `{model_id}` cannot be loaded: it is not in the local Hugging Face cache and "
                         f"huggingface.co cannot be reached ({type(e).__name__}); " + HUB_HELP.format(id=model_id)) from None
    return src


# ---------------------------------------------------------------------------------------
# Hardware choices

def cuda_visible_light() -> bool:
    """Is there a CUDA GPU? Answered without importing torch (nvml, then torch only if already imported)."""
    import sys

    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if "torch" in sys.modules:
        return bool(sys.modules["torch"].cuda.is_available())
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return pynvml.nvmlDeviceGetCount() > 0
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver, no library: no GPU
        return False


def pick_device(recipe: "Recipe") -> str:
    import torch

    if recipe.hardware.device == "cpu":
        return "cpu"
    if recipe.hardware.device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("hardware.device = 'cuda' but torch sees no CUDA GPU (a CPU build of torch, or no driver)")
        return "cuda"
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(recipe: "Recipe", device: str):
    """The compute dtype: as asked, else bf16 where supported, fp16 on older GPUs, fp32 on CPU."""
    import torch

    d = recipe.model.dtype
    if d == "fp32":
        return torch.float32
    if d == "bf16":
        return torch.bfloat16
    if d == "fp16":
        return torch.float16
    if device == "cuda":
        # Without `including_emulation=False` torch answers True on Volta / Turing (V100, T4), where bf16 has no
        # tensor cores and runs emulated: those cards train in fp16, as the estimate assumes (catalog `bf16`).
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    return torch.float32


def _load_error(src: BaseSource, e: Exception) -> UsageError:
    if src.kind == "hub":
        return UsageError(f"model.base = `{src.path}` cannot be loaded ({str(e).splitlines()[0][:200]}); "
                          + HUB_HELP.format(id=src.path))
    return UsageError(f"model {src.describe()} cannot be loaded: {str(e).splitlines()[0][:300]}")


# ---------------------------------------------------------------------------------------
# Tokenizer and model

def load_tokenizer(recipe: "Recipe", src: BaseSource | None = None, *, padding_side: str = "right"):
    from transformers import AutoTokenizer

    src = src or resolve_base(recipe)
    kwargs: dict[str, Any] = {"trust_remote_code": recipe.model.trust_remote_code}
    if src.gguf_file:
        kwargs["gguf_file"] = src.gguf_file
    try:
        tok = AutoTokenizer.from_pretrained(src.path, **kwargs)
    except (OSError, ValueError) as e:
        raise _load_error(src, e) from None
    if tok.eos_token is None:
        raise UsageError(f"the tokenizer of {src.describe()} has no EOS token; ftwizard needs one to end answers")
    if tok.pad_token is None:
        # Safe here: padding is masked by the attention mask, and the EOS we append stays a learned label.
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def dtype_name(dtype) -> str:
    """'bf16' / 'fp16' / 'fp32' for a torch dtype (what model.dtype says)."""
    import torch

    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def fsdp_enabled(recipe: "Recipe") -> bool:
    from ftwizard import settings

    return recipe.train.fsdp or settings.fsdp()


BNB_MIN = (0, 48)  # the bitsandbytes this project runs 8-bit / 4-bit layers with on CUDA and on the CPU (CI: 0.50)


def bnb_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bitsandbytes")
    except PackageNotFoundError:
        return None


def check_bitsandbytes(quant: str) -> None:
    """model.quant needs bitsandbytes >= 0.48 (light: reads the installed version, imports nothing)."""
    have = bnb_version()
    if have is None:
        raise UsageError(f"model.quant = '{quant}' needs bitsandbytes: pip install 'ftwizard[quant]'")
    if tuple(int(x) for x in have.split(".")[:2] if x.isdigit()) < BNB_MIN:
        raise UsageError(f"model.quant = '{quant}' needs bitsandbytes >= {BNB_MIN[0]}.{BNB_MIN[1]} (installed: "
                         f"{have}), which runs 8-bit and 4-bit layers on CUDA and on the CPU alike: "
                         "pip install -U 'ftwizard[quant]'")


def quantization_config(quant: str, dtype):
    """The BitsAndBytesConfig of model.quant, the same on CUDA and on the CPU. 4-bit: NF4 with double
    quantization, computing in the training dtype and *storing* the packed weights in that dtype too
    (`bnb_4bit_quant_storage`), so FSDP sees one dtype per layer and can shard a 4-bit base like any other
    (QLoRA under FSDP); without FSDP the storage dtype changes nothing."""
    check_bitsandbytes(quant)
    from transformers import BitsAndBytesConfig

    if quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_storage=dtype)


def _load_model(recipe: "Recipe", src: BaseSource, *, device: str, dtype, attn_implementation: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": recipe.model.trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if src.gguf_file:
        kwargs["gguf_file"] = src.gguf_file
    quant = recipe.model.quant
    if quant != "none":
        kwargs["quantization_config"] = quantization_config(quant, dtype)
        if device == "cpu":
            kwargs["device_map"] = {"": "cpu"}  # bitsandbytes quantizes while loading onto the device it is given
    if device == "cuda":  # each process's own GPU; under FSDP fully_shard then keeps this rank's shard there
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    try:
        model = AutoModelForCausalLM.from_pretrained(src.path, **kwargs)
    except torch.cuda.OutOfMemoryError:
        raise
    except (OSError, ValueError) as e:
        raise _load_error(src, e) from None
    if src.gguf_file:
        # transformers dequantizes GGUF weights to `dtype` on load but keeps a GGUF "quantizer" tag, which makes
        # Trainer refuse to train and save_pretrained refuse to save. The weights are plain tensors: drop the tag.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            try:
                del model.config.quantization_config
            except AttributeError:
                pass
    return model


def quantized_layers(model) -> dict[str, int]:
    """The bitsandbytes layers the model really holds, by class ({'Linear8bitLt': 8}): recorded, not assumed."""
    counts: dict[str, int] = {}
    for m in model.modules():
        cls = type(m)
        if cls.__module__.startswith("bitsandbytes") and cls.__name__ in ("Linear8bitLt", "Linear4bit"):
            counts[cls.__name__] = counts.get(cls.__name__, 0) + 1  # peft's LoRA wrappers share the names
    return counts


def lora_config(recipe: "Recipe"):
    from peft import LoraConfig

    targets = list(recipe.lora.target_modules)
    return LoraConfig(
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,
        lora_dropout=recipe.lora.dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        bias=recipe.lora.bias,
        task_type="CAUSAL_LM",
    )


def load_for_training(recipe: "Recipe", *, attn_implementation: str | None = None):
    """(peft model with fresh LoRA adapters, tokenizer padding right), on the recipe's device and dtype.

    Gradient checkpointing (train.gradient_checkpointing, 'auto' = on for a quantized base) is non-reentrant:
    the reentrant variant needs inputs that require grad and breaks with frozen embeddings. Under FSDP the same
    checkpointing runs around each sharded layer (the worker shards after this returns)."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    src = resolve_base(recipe)
    device = pick_device(recipe)
    dtype = pick_dtype(recipe, device)
    tok = load_tokenizer(recipe, src, padding_side="right")
    model = _load_model(recipe, src, device=device, dtype=dtype, attn_implementation=attn_implementation)
    model.config.use_cache = False
    gc = recipe.gradient_checkpointing_on()  # under FSDP2 too: each layer recomputes inside its all-gather
    gc_kwargs = {"use_reentrant": False}
    if recipe.model.quant != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gc,
                                                gradient_checkpointing_kwargs=gc_kwargs)
    elif gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gc_kwargs)
        model.enable_input_require_grads()
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    try:
        model = get_peft_model(model, lora_config(recipe))
    except ValueError as e:
        names = sorted({n.split(".")[-1] for n, _ in model.named_modules() if n})
        raise UsageError(f"lora.target_modules: {e}; module names in this model include: "
                         + ", ".join(n for n in names if not n.isdigit())[:400]) from None
    return model, tok


def load_for_inference(recipe: "Recipe", adapter_dir: Path | None = None):
    """(model in eval mode, tokenizer padding left) - the base alone, or with the adapter in `adapter_dir`."""
    src = resolve_base(recipe)
    device = pick_device(recipe)
    dtype = pick_dtype(recipe, device)
    tok = load_tokenizer(recipe, src, padding_side="left")
    model = _load_model(recipe, src, device=device, dtype=dtype)
    if adapter_dir is not None:
        from peft import PeftModel

        adapter_dir = Path(adapter_dir)
        if not (adapter_dir / "adapter_config.json").exists():
            raise UsageError(f"{adapter_dir} holds no adapter (no adapter_config.json)")
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    if device == "cpu":
        model.to("cpu")
    model.eval()
    model.config.use_cache = True
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        if gen.pad_token_id is None:
            gen.pad_token_id = tok.pad_token_id
        if gen.eos_token_id is None:
            gen.eos_token_id = tok.eos_token_id
    return model, tok
