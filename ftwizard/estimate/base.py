"""Constants, calibration figures and input checks shared by the estimator's modules (docs/estimates.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ftwizard.catalog import GPU, OpenModel, get_gpu, get_hosted_model, get_open_model
from ftwizard.errors import UsageError
from ftwizard.plan.fit import USABLE_VRAM  # noqa: F401 - the fit rule's constant, read by the serving estimate

if TYPE_CHECKING:
    from ftwizard.catalog import HostedModel

GIB = 1024**3
CACHE_VERSION = 3  # 2: estimated local lengths count template pieces apart; 3: lean billed-token count

# -- Calibration (docs/estimates.md has the derivations) ---------------------------------------------------------
# The speed model's coefficients (ftwizard/estimate/throughput.py), fitted on the published measurements in
# benchmarks/data/measurements.toml by benchmarks/bench_estimator.py --fit (docs/estimates.md has the table of
# errors by source, fitted vs held out). compute_eff / attn_eff / lora_eff / bw_eff: fractions of the datasheet's
# dense 16-bit peak and memory bandwidth that large GEMMs, attention kernels, rank-r GEMMs and streaming kernels
# reach; host_*: eager PyTorch's dispatch time per decoder layer, per adapted module (per pass) and per
# micro-batch; compile_*: what torch.compile leaves of host time and elementwise traffic; loss_bytes*: bytes
# moved per token per vocabulary entry by the loss path (HF: 16-bit logits, fp32 copy, log-softmax, gradients;
# Liger's fused linear cross-entropy); dequant_*: quantized kernels' cost beyond writing and reading the 16-bit
# copy; step_s: per optimizer step; overlap: how sharply host and GPU time overlap (a smooth max);
# fsdp_eff / ddp_eff: per-GPU throughput with several GPUs, relative to one (ddp_eff not fitted: data parallel
# LoRA exchanges only the adapters' gradients, a few MB a step).
SPEED = {  # benchmarks/bench_estimator.py --fit, 2026-12-07, on all 16 sources (97 tokens/s rows, each source weighing
    # the same); the coefficients the fit does not move (lora_eff, host_mb_s, compile_*, loss_bytes*, elem_scale,
    # overlap, ddp_eff) keep their physical starting values: no source informs them on its own. dequant_8bit: no
    # public 8-bit row, so bitsandbytes' int8 dequantisation is taken to cost what its nf4 kernel was fitted to beyond
    # its traffic. GPTQ's dequantisation is counted (throughput.GPTQ_DEQUANT_BYTES), not fitted.
    # attn_eff_mem_efficient: SDPA's memory-efficient kernel, what cards without FlashAttention-2 (T4, V100) run;
    # only the fitcheck T4 archive informs it.
    "compute_eff": 0.7995, "attn_eff": 0.6163, "attn_eff_mem_efficient": 0.2677, "lora_eff": 0.3, "bw_eff": 0.8346,
    "host_layer_s": 0.0002669, "host_lora_s": 0.0001236, "host_mb_s": 0.005, "compile_host": 0.3,
    "compile_elem": 0.6, "loss_bytes": 36.0, "loss_bytes_liger": 12.0, "dequant_4bit": 0.5374,
    "dequant_8bit": 0.5374, "elem_scale": 1.0, "step_s": 0.01441, "overlap": 2.0, "fsdp_eff": 0.8797, "ddp_eff": 0.97,
    "link_eff": 0.4022,
}
# Billed tokens in another tiktoken encoding, per token of the one counted (hosted candidates on other providers).
# Loading a second 200k-rank encoder costs ~0.45 s, so `estimate` scales instead: measured 2026-12-01 on the bundled
# data, o200k_base / cl100k_base = 0.9996 (SQL: 499,461 / 499,652) and 1.0047 (ViGGO: 1,090,829 / 1,085,690).
ENCODING_RATIO = {("cl100k_base", "o200k_base"): 1.0, ("o200k_base", "cl100k_base"): 1.0}

# The estimated time's range: uncalibrated, the public measurements the efficiencies were fitted to (and the
# test anchors in tests/test_estimate.py) fall within these factors of the formula; calibrated from this
# machine's runs, the spread of their measured/estimated ratios, never narrower than CALIBRATED_RANGE.
# Uncalibrated: the 10th-90th percentile of the held-out speed ratios (estimate / measured, each source estimated
# with coefficients fitted on the others; benchmarks/bench_estimator.py): hours run from 0.78x to 1.52x the estimate.
UNCALIBRATED_RANGE = (0.78, 1.52)
CALIBRATED_RANGE = (0.85, 1.18)
BYTES_PER_PARAM = {"none": 2.0, "8bit": 1.0, "4bit": 0.5}
NF4_BLOCK = 64  # bitsandbytes nf4 blocksize; one fp32 absmax per block (no double quantization)
# Tokens of the model's tokenizer per cl100k_base token, when the model's tokenizer is not on this machine.
# llama2 (also Code Llama, Mistral 7B v0.1): measured on the bundled SQL and ViGGO training texts with the Llama 2
# tokenizer (llama-tokenizer-js 1.2.2): 1.234 and 1.252. Others are assumptions (docs/estimates.md).
# llama3, qwen2/qwen3 (~150k vocabularies), phi3 (Phi-4: a cl100k-derived vocabulary) and gpt-oss (o200k) cut text
# about as finely as cl100k_base; gemma3 (262k) and Mistral's Tekken (131k) likewise (assumed 1.0).
TOKENIZER_RATIO = {"llama2": 1.25, "mistral": 1.25, "llama3": 1.0, "qwen2": 1.0, "qwen3": 1.0, "smollm2": 1.1,
                   "gemma3": 1.0, "mistral3": 1.0, "phi3": 1.0, "gpt-oss": 1.0}
DEFAULT_TOKENIZER_RATIO = 1.2
# The HF loss path keeps this many fp32 vocabulary-wide copies per token beside the logits at its peak (the
# backward of cross-entropy: log-softmax's output, the gradient into it and the gradient out of it). Fitted on
# Unsloth's Hugging Face + FA2 context lengths (Llama 3.1 8B QLoRA): the old 2 copies gave 0.92x at 932 tokens
# falling to 0.66x at 28k.
LOSS_FP32_COPIES = 3.0
# Activation offloading's copies over the card's PCIe link to the host: the link's payload ceiling, from the PCIe
# spec's 128b/130b line code (Gen3 on) and a 256-byte payload per packet behind ~26 bytes of framing, sequence
# number, header and LCRC. Counted, not fitted: real pinned copies reach a little less, so the time offloading adds
# is a floor. DEFAULT_HOST_LINK_GBS: a card whose catalog entry names no host link is taken to sit on PCIe Gen4 x16.
HOST_LINK_EFF = (128 / 130) * (256 / (256 + 26))
DEFAULT_HOST_LINK_GBS = 32.0
SPECIAL_TOKENS = 2          # BOS + the EOS the trainer appends
CUDA_CONTEXT_GIB = 0.5      # CUDA context + kernels: outside torch's allocator, seen by nvidia-smi
ALLOCATOR_GIB = 0.25        # cuBLAS workspace and allocator pools
FRAGMENTATION = 0.10        # allocator slack on activations and logits
LOAD_GBPS = 0.5             # reading + quantizing a 16-bit checkpoint, GB/s (a local NVMe copy; no download)
MULTI_GPU_SCALING = 0.9     # data-parallel efficiency per extra GPU
SERVING_CONCURRENCY = 32    # requests decoded together by a serving engine (vLLM-like continuous batching)
SERVING_BW_EFFICIENCY = 0.7  # fraction of memory bandwidth a decode step reaches
SERVING_PREFILL_EFFICIENCY = 0.5

# LoRA target names as PEFT users write them (a module's name or its last dotted parts), mapped to the shape's
# matrices (`OpenModel.linears()`: q_proj, k_proj, v_proj / qkv_proj, o_proj, gate_proj, up_proj / gate_up_proj,
# down_proj). By architecture (config.json's model_type), because one name means different matrices in different
# models: w2 is Mixtral's and InternLM2's down projection but Qwen v1's gate; GPT-2's and Qwen v1's c_proj is
# both the attention output and the MLP's down projection (PEFT adapts every module whose name ends in it), while
# StarCoder2's c_proj is only the MLP's; ChatGLM's dense_h_to_4h is gate and up fused, GPT-NeoX's only up.
MODULE_ALIASES = {"output_proj": ("o_proj",), "out_proj": ("o_proj",), "w1": ("gate_proj",), "w3": ("up_proj",),
                  "w2": ("down_proj",), "query": ("q_proj",), "key": ("k_proj",), "value": ("v_proj",),
                  "dense": ("o_proj",)}  # for Llama-like models without a table below: torchtune's names
_GPT2 = {"c_attn": ("qkv_proj",), "c_proj": ("o_proj", "down_proj"), "attn.c_proj": ("o_proj",),
         "mlp.c_proj": ("down_proj",), "c_fc": ("up_proj",)}
_NEOX = {"query_key_value": ("qkv_proj",), "dense": ("o_proj",), "dense_h_to_4h": ("up_proj",),
         "dense_4h_to_h": ("down_proj",)}
ARCH_MODULE_ALIASES = {
    "gpt2": _GPT2, "gpt_bigcode": _GPT2,
    "qwen": {**_GPT2, "w1": ("up_proj",), "w2": ("gate_proj",)},          # Qwen v1: c_proj(w1(x) * silu(w2(x)))
    "gptj": {"out_proj": ("o_proj",), "fc_in": ("up_proj",), "fc_out": ("down_proj",)},
    "codegen": {"qkv_proj": ("qkv_proj",), "out_proj": ("o_proj",), "fc_in": ("up_proj",), "fc_out": ("down_proj",)},
    "gpt_neo": {"out_proj": ("o_proj",), "c_fc": ("up_proj",), "c_proj": ("down_proj",)},
    "gpt_neox": _NEOX, "falcon": _NEOX, "RefinedWeb": _NEOX, "RefinedWebModel": _NEOX, "bloom": _NEOX,
    "chatglm": {**_NEOX, "dense_h_to_4h": ("gate_up_proj",)},
    "opt": {"out_proj": ("o_proj",), "fc1": ("up_proj",), "fc2": ("down_proj",)},
    "phi": {"dense": ("o_proj",), "fc1": ("up_proj",), "fc2": ("down_proj",)},
    "phi-msft": {"Wqkv": ("qkv_proj",), "out_proj": ("o_proj",), "fc1": ("up_proj",), "fc2": ("down_proj",)},
    "starcoder2": {"c_fc": ("up_proj",), "c_proj": ("down_proj",)},
    "baichuan": {"W_pack": ("qkv_proj",)},
    "internlm2": {"wqkv": ("qkv_proj",), "wo": ("o_proj",), "w1": ("gate_proj",), "w3": ("up_proj",),
                  "w2": ("down_proj",)},
    "mixtral": {"w1": ("gate_proj",), "w3": ("up_proj",), "w2": ("down_proj",)},
    "mpt": {"Wqkv": ("qkv_proj",), "out_proj": ("o_proj",)},
    "olmo": {"att_proj": ("qkv_proj",), "attn_out": ("o_proj",), "ff_proj": ("gate_up_proj",),
             "ff_out": ("down_proj",)},
}
# A 2-matrix MLP's activation, by config.json's name: tensors of the MLP's width autograd keeps for backward when its
# linears are frozen, counted with torch's saved-tensor hooks on transformers 5.25's activations (2026-12-07):
# gelu, gelu_pytorch_tanh, relu 1; quick_gelu 2; gelu_new 4 and gelu_fast 7 (Python formulas: pow, tanh, products).
# And bytes its forward moves per element: one read and one write, 4 B; gelu_new eight ops, 36 B; gelu_fast nine.
ACT_SAVED = {"gelu_new": 4, "gelu_fast": 7, "quick_gelu": 2, "relu2": 2}
ACT_BYTES = {"gelu_new": 36, "gelu_fast": 40, "quick_gelu": 14}
# A fused name on a model whose matrices are separate (the catalog's Qwen v1 and Phi-4 entries count them apart).
FUSED_MODULES = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}


def _positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> Any:
    if value is None:
        return None
    try:
        v = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number (got {value!r})") from None
    if integer and float(value) != v:
        raise UsageError(f"{name} must be a whole number (got {value!r})")
    if (v < 0) if allow_zero else (v <= 0):
        raise UsageError(f"{name} must be {'>= 0' if allow_zero else '> 0'} (got {value!r})")
    if not math.isfinite(v):
        raise UsageError(f"{name} must be finite (got {value!r})")
    return v


def _quant(q: str | None) -> str:
    q = {"int8": "8bit", "8": "8bit", "int4": "4bit", "nf4": "4bit", "4": "4bit", "qlora": "4bit",
         "bf16": "none", "fp16": "none", "16bit": "none"}.get((q or "none").lower(), (q or "none").lower())
    if q not in BYTES_PER_PARAM:
        raise UsageError(f"quant must be one of none, 8bit, 4bit (got {q!r})")
    return q


def _as_gpu(gpu: GPU | str) -> GPU:
    return gpu if isinstance(gpu, GPU) else get_gpu(gpu)


def _as_model(model: OpenModel | str) -> OpenModel:
    return model if isinstance(model, OpenModel) else get_open_model(model)


def _as_hosted(model: "HostedModel | str", provider: str | None = None) -> "HostedModel":
    return get_hosted_model(model, provider) if isinstance(model, str) else model
