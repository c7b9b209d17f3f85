"""What a fine-tune will need and cost before it runs: VRAM, hours and dollars for LoRA; dollars for hosted.

Everything here is arithmetic on the catalog (ftwizard/catalog/*.toml) and on token counts of the recipe's data
(cached on disk), so an estimate takes milliseconds and never imports torch. docs/estimates.md explains every
formula and where each calibration number comes from; the tests hold the estimator to public measurements.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ftwizard.catalog import GPU, OpenModel, get_gpu, get_hosted_model, get_open_model, match_gpu, wind_down
from ftwizard.errors import UsageError

if TYPE_CHECKING:
    from ftwizard.catalog import HostedModel
    from ftwizard.recipe import Recipe

GIB = 1024**3
CACHE_VERSION = 3  # 2: estimated local lengths count template pieces apart; 3: lean billed-token count

# -- Calibration (docs/estimates.md has the derivations) ---------------------------------------------------------
# Fraction of the card's dense 16-bit tensor peak that HF Trainer + PEFT reach, by how the base is loaded.
# none: LLaMA-Factory's benchmark wiki (A100 40GB, Llama-2-7B LoRA, 1,024 tokens, plain HF: 2,392 tokens/s,
#       gradient checkpointing on) -> 0.314 with this module's FLOP count.
# 8bit: the seed's two Code Llama 34B LoRA runs on an A40 (7 h SQL, 9 h ViGGO), fitted so both land in range.
# 4bit: the 16-bit figure / 1.39: QLoRA took 39% longer than LoRA in Raschka's Llama 2 7B experiments (2023).
EFFICIENCY = {"none": 0.314, "8bit": 0.55, "4bit": 0.226}
BYTES_PER_PARAM = {"none": 2.0, "8bit": 1.0, "4bit": 0.5}
NF4_BLOCK = 64  # bitsandbytes nf4 blocksize; one fp32 absmax per block (no double quantization)
# Tokens of the model's tokenizer per cl100k_base token, when the model's tokenizer is not on this machine.
# llama2 (also Code Llama, Mistral 7B v0.1): measured on the bundled SQL and ViGGO training texts with the Llama 2
# tokenizer (llama-tokenizer-js 1.2.2): 1.234 and 1.252. Others are assumptions (docs/estimates.md).
TOKENIZER_RATIO = {"llama2": 1.25, "mistral": 1.25, "llama3": 1.0, "qwen2": 1.0, "smollm2": 1.1}
DEFAULT_TOKENIZER_RATIO = 1.2
SPECIAL_TOKENS = 2          # BOS + the EOS the trainer appends
CUDA_CONTEXT_GIB = 0.5      # CUDA context + kernels: outside torch's allocator, seen by nvidia-smi
ALLOCATOR_GIB = 0.25        # cuBLAS workspace and allocator pools
FRAGMENTATION = 0.10        # allocator slack on activations and logits
USABLE_VRAM = 0.94          # of the catalog's nominal VRAM: ECC and driver reserve (A40: 46,068 MiB of 48 GiB)
LOAD_GBPS = 0.5             # reading + quantizing a 16-bit checkpoint, GB/s (a local NVMe copy; no download)
MULTI_GPU_SCALING = 0.9     # data-parallel efficiency per extra GPU
SERVING_CONCURRENCY = 32    # requests decoded together by a serving engine (vLLM-like continuous batching)
SERVING_BW_EFFICIENCY = 0.7  # fraction of memory bandwidth a decode step reaches
SERVING_PREFILL_EFFICIENCY = 0.5
HOURS_PER_MONTH = 730

MODULE_ALIASES = {"output_proj": "o_proj", "w1": "gate_proj", "w3": "up_proj", "w2": "down_proj",
                  "query": "q_proj", "key": "k_proj", "value": "v_proj", "dense": "o_proj"}
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ---------------------------------------------------------------------------------------------------------------
# Validation helpers

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


def _as_hosted(model: "HostedModel | str") -> "HostedModel":
    return get_hosted_model(model) if isinstance(model, str) else model


# ---------------------------------------------------------------------------------------------------------------
# LoRA parameters, memory, FLOPs

def module_shapes(model: OpenModel) -> dict[str, tuple[int, int]]:
    """(in, out) features of each linear of one decoder block."""
    q = model.heads * model.dim_head
    kv = model.kv_heads * model.dim_head
    h, i = model.hidden, model.intermediate
    return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
            "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


def resolve_targets(target_modules: Iterable[str]) -> tuple[list[str], list[str]]:
    """(known module names, names this estimator does not know) for a LoRA target list."""
    names: list[str] = []
    unknown: list[str] = []
    for t in target_modules:
        t = MODULE_ALIASES.get(t, t)
        if t in ("all-linear", "all_linear"):
            names.extend(ALL_LINEAR)
        elif t in ALL_LINEAR:
            names.append(t)
        else:
            unknown.append(t)
    return list(dict.fromkeys(names)), unknown


def lora_params(model: OpenModel, rank: int, target_modules: Iterable[str]) -> int:
    """r x layers x sum(d_in + d_out) over the targeted modules."""
    shapes = module_shapes(model)
    names, _ = resolve_targets(target_modules)
    return rank * model.layers * sum(shapes[n][0] + shapes[n][1] for n in names)


def weight_bytes(model: OpenModel, quant: str, dtype_bytes: float = 2.0, *, kbit_fp32: bool = False
                 ) -> dict[str, float]:
    """Bytes of the base weights: block linears at the quantization's width, embeddings and lm_head in 16-bit
    (in fp32 with `kbit_fp32`: peft's prepare_model_for_kbit_training upcasts every unquantized weight)."""
    quant = _quant(quant)
    lin = model.linear_params
    if quant == "none":
        linear = lin * dtype_bytes
    elif quant == "8bit":  # int8 weights + one fp32 scale per output row
        rows = model.layers * sum(o for _i, o in module_shapes(model).values())
        linear = lin * 1.0 + rows * 4
    else:  # nf4: half a byte per weight + an fp32 absmax per block of 64
        linear = lin * 0.5 + lin / NF4_BLOCK * 4
    embed = model.embedding_params * (dtype_bytes if quant == "none" else (4.0 if kbit_fp32 else 2.0))
    norms = (2 * model.layers + 1) * model.hidden * (4 if kbit_fp32 or dtype_bytes == 4 else 2)
    return {"linear": linear, "embeddings": embed, "norms": norms}


def activation_bytes_per_token(model: OpenModel, targets: list[str], lora_dropout: float, act_bytes: float = 2.0
                               ) -> float:
    """What autograd keeps per token for one decoder block when only LoRA adapters train (SDPA attention)."""
    h, i = model.hidden, model.intermediate
    q = model.heads * model.dim_head
    kv = model.kv_heads * model.dim_head
    a = act_bytes
    norms = 2 * (4 * h + 2 * a * h)            # two RMSNorms: fp32 upcast + normed output
    attention = a * (2 * q + 2 * kv)           # SDPA keeps q, k, v and its output
    mlp = 3 * a * i                            # SiLU input, its output and the up projection
    shapes = module_shapes(model)
    lora = 0.0
    for name in targets:
        d_in = shapes[name][0]
        if lora_dropout > 0:
            lora += (a + 1) * d_in             # dropout output + mask, per adapted module
        elif name == "down_proj":
            lora += a * d_in                   # the MLP product is otherwise not kept
    return norms + attention + mlp + lora


def estimate_vram(model: OpenModel | str, *, quant: str = "none", rank: int = 8,
                  target_modules: Iterable[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
                  lora_dropout: float = 0.05, micro_batch: int = 1, seq_len: int = 512,
                  gradient_checkpointing: bool = True, optimizer: str = "adamw_torch",
                  adapter_bytes: float = 4.0, dtype_bytes: float = 2.0, kbit_prep: bool | None = None,
                  loss_chunks: int = 1) -> dict:
    """Peak training memory in GiB with its breakdown (weights, adapters, optimizer, activations, logits, overhead).

    `seq_len` is the longest padded sequence of a micro-batch: the peak comes from the longest batch.
    `kbit_prep` (default: on for 8bit/4bit) models peft's prepare_model_for_kbit_training: unquantized weights
    (embeddings, lm_head, norms) upcast to fp32, so the logits come out in fp32 too. `loss_chunks` > 1: a
    chunked cross-entropy (torchtune, Unsloth) upcasts and keeps one chunk of the logits at a time.
    `vram_gb` is what the device holds (nvidia-smi); `torch_peak_gb` leaves out the CUDA context, as
    torch.cuda.max_memory_reserved() does.
    """
    model = _as_model(model)
    quant = _quant(quant)
    rank = _positive("rank", rank, integer=True)
    micro_batch = _positive("micro-batch size", micro_batch, integer=True)
    seq_len = _positive("sequence length", seq_len, integer=True)
    targets, unknown = resolve_targets(target_modules)
    if kbit_prep is None:
        kbit_prep = quant != "none"
    w = weight_bytes(model, quant, dtype_bytes, kbit_fp32=kbit_prep)
    n_lora = lora_params(model, rank, targets)
    opt_bytes = 2.0 if "8bit" in optimizer or "8_bit" in optimizer else (0.0 if optimizer == "sgd" else 8.0)
    tokens = micro_batch * seq_len
    act_dtype = dtype_bytes
    per_layer = activation_bytes_per_token(model, targets, lora_dropout, act_dtype) * tokens
    if gradient_checkpointing:
        activations = model.layers * tokens * model.hidden * act_dtype + per_layer
    else:
        activations = model.layers * per_layer
    # logits, their fp32 copy for the loss, log-softmax kept for backward (fp32 logits need no extra copy)
    logits_width = 4 if kbit_prep else act_dtype
    loss_extra = 8 if logits_width == 2 else 4   # fp32 copy + log-softmax, or log-softmax alone
    logits = tokens * model.vocab * (logits_width + loss_extra / max(1, loss_chunks))
    quant_workspace = 0.0
    if quant == "8bit":   # bitsandbytes dequantizes one weight to fp16 for the backward matmul
        quant_workspace = 2 * max(i * o for i, o in module_shapes(model).values()) * 2
    elif quant == "4bit":
        quant_workspace = max(i * o for i, o in module_shapes(model).values()) * 2
    parts = {
        "weights_quantized": w["linear"],
        "weights_16bit_embeddings": w["embeddings"] + w["norms"],
        "lora_params": n_lora * adapter_bytes,
        "lora_grads": n_lora * adapter_bytes,
        "optimizer_states": n_lora * opt_bytes,
        "activations": activations,
        "logits": logits,
        "quant_workspace": quant_workspace,
    }
    parts["allocator_overhead"] = ALLOCATOR_GIB * GIB + FRAGMENTATION * (activations + logits)
    parts["cuda_context"] = CUDA_CONTEXT_GIB * GIB
    gib = {k: round(v / GIB, 3) for k, v in parts.items()}
    total = sum(parts.values()) / GIB
    return {"vram_gb": round(total, 2), "torch_peak_gb": round(total - CUDA_CONTEXT_GIB, 2), "parts_gb": gib, "lora_params": n_lora, "trainable_pct":
            round(100 * n_lora / model.params, 4), "micro_batch": micro_batch, "seq_len": seq_len,
            "gradient_checkpointing": bool(gradient_checkpointing), "quant": quant,
            "unknown_target_modules": unknown}


def train_flops_per_token(model: OpenModel, seq_len: float, *, gradient_checkpointing: bool,
                          n_lora: int = 0) -> float:
    """FLOPs per trained token for LoRA: forward 2N, input gradients 2N, recompute 2N with checkpointing.

    Frozen weights get no weight gradients. Attention: 2 x q_dim x seq per layer forward (causal), x3 with
    its backward, +1 when recomputed. Adapters: 6 FLOPs per parameter.
    """
    passes = 3 if gradient_checkpointing else 2
    dense = passes * 2 * model.matmul_params
    attn_fwd = 2 * model.layers * model.heads * model.dim_head * seq_len
    attention = attn_fwd * (4 if gradient_checkpointing else 3)
    return dense + attention + 6 * n_lora


def eval_flops_per_token(model: OpenModel, seq_len: float) -> float:
    return 2 * model.matmul_params + 2 * model.layers * model.heads * model.dim_head * seq_len


def peak_flops(gpu: GPU, dtype: str) -> float:
    """Dense peak in FLOP/s for the compute dtype (fp32 on a GPU runs at TF32 rate: half the bf16 peak)."""
    tf = gpu.bf16_tflops * 1e12
    if dtype == "fp32" and not gpu.is_cpu:
        tf /= 2
    return tf


def efficiency(gpu: GPU, quant: str) -> float:
    return 1.0 if gpu.effective else EFFICIENCY[_quant(quant)]


# ---------------------------------------------------------------------------------------------------------------
# Token statistics of a recipe's data (cached)

def cache_dir() -> Path:
    if os.environ.get("FTWIZARD_CACHE_DIR"):
        return Path(os.environ["FTWIZARD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ftwizard"


def _file_stamp(path: Path) -> list:
    try:
        st = path.stat()
        return [str(path.resolve()), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), None, None]


def _data_files(recipe: "Recipe", task) -> list:
    d = recipe.data
    from ftwizard.tasks.base import DATA_DIR

    out = []
    for split in (d.train, d.eval):
        if d.source == "bundled":
            rel = task.bundled.get(split)
            out.append(_file_stamp(DATA_DIR / rel) if rel else ["bundled", split])
        elif d.source == "files":
            out.append(_file_stamp(Path(split).expanduser()))
        else:
            out.append(["hf", d.hf_id, d.hf_config, split])
    return out


def local_tokenizer_file(base: str) -> Path | None:
    """A tokenizer.json for the recipe's model on this machine (its folder or the hub cache), if any."""
    p = Path(base).expanduser()
    if p.is_dir():
        return p / "tokenizer.json" if (p / "tokenizer.json").is_file() else None
    from ftwizard.catalog import hub_cache_file

    return hub_cache_file(base, "tokenizer.json") if "/" in base else None


def _hist(values: Iterable[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def _unhist(h: dict[str, int]) -> list[int]:
    out: list[int] = []
    for k, n in sorted(h.items(), key=lambda kv: int(kv[0])):
        out.extend([int(k)] * n)
    return out


def token_stats(recipe: "Recipe", hosted: "HostedModel", *, tokenizer_file: Path | None = None,
                use_cache: bool = True) -> dict:
    """Token counts of the recipe's train (and eval) data: local lengths, hosted billed tokens. Cached on disk,
    keyed on the data files' size and mtime, the templates, the hosted model's encoding and the tokenizer."""
    from ftwizard.tasks import get_task

    task = get_task(recipe.task)
    templates = task.templates(recipe)
    key_obj = {
        "v": CACHE_VERSION, "task": recipe.task, "data": recipe.data.model_dump(mode="json"),
        "files": _data_files(recipe, task),
        "templates": [templates.template, templates.system, templates.user, templates.assistant],
        "hosted": [hosted.encoding, hosted.max_tokens_per_example],
        "tokenizer": _file_stamp(tokenizer_file) if tokenizer_file else "cl100k_base",
        "eval": recipe.train.eval_every > 0,
    }
    key = hashlib.sha256(json.dumps(key_obj, sort_keys=True, default=str).encode()).hexdigest()[:24]
    path = cache_dir() / "tokenstats" / f"{key}.json"
    if use_cache:
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if cached.get("key") == key:
                cached["cached"] = True
                return cached
        except (OSError, ValueError):
            pass
    stats = _count_tokens(recipe, task, templates, hosted, tokenizer_file)
    stats["key"] = key
    try:
        from ftwizard.fsutil import atomic_write_json

        atomic_write_json(path, stats, indent=None)
    except OSError:
        pass  # a read-only home: estimates still work, only slower
    stats["cached"] = False
    return stats


def _count_tokens(recipe: "Recipe", task, templates, hosted: "HostedModel", tokenizer_file: Path | None) -> dict:
    from ftwizard.chatfile import billed_tokens
    from ftwizard.tokens import TokenCounter

    rows = task.load_split(recipe, "train").rows
    eval_rows: list = []
    if recipe.train.eval_every > 0:
        try:
            eval_rows = task.load_split(recipe, "eval", check_templates=False).rows
        except UsageError:
            eval_rows = []
    hosted_counter = TokenCounter(hosted.encoding)
    report = billed_tokens([templates.messages(r) for r in rows], hosted_counter, hosted.max_tokens_per_example)
    prompt_counts = [hosted_counter.count_messages(templates.messages(r, with_answer=False)) for r in rows[:2000]]
    if tokenizer_file is not None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_file))
        texts = [templates.render_text(r) for r in rows]
        eval_texts = [templates.render_text(r) for r in eval_rows]
        lengths = [len(e.ids) + 1 for e in tok.encode_batch(texts)]
        eval_lengths = [len(e.ids) + 1 for e in tok.encode_batch(eval_texts)] if eval_texts else []
        method = {"method": "exact", "tokenizer": str(tokenizer_file)}
    else:
        cl = hosted_counter if hosted.encoding == "cl100k_base" else TokenCounter("cl100k_base")
        lengths = cl.count_rendered(templates.template, rows)
        eval_lengths = cl.count_rendered(templates.template, eval_rows) if eval_rows else []
        method = {"method": "estimated", "tokenizer": "cl100k_base"}
    return {
        "n_train": len(rows), "n_eval": len(eval_rows),
        "train_lengths": _hist(lengths), "eval_lengths": _hist(eval_lengths),
        "local_tokens": method,
        "hosted": {
            "encoding": hosted.encoding, "max_tokens_per_example": hosted.max_tokens_per_example,
            "billed_tokens_per_epoch": report["billed_tokens_per_epoch"],
            "tokens_mean": report["tokens_mean"],
            "assistant_mean": report["assistant_mean"],
            "prompt_mean": round(statistics.fmean(prompt_counts), 2) if prompt_counts else 0.0,
            "n_too_long": report["n_too_long"], "format_errors": 0,
        },
    }


def local_lengths(stats: dict, model: OpenModel, which: str = "train") -> tuple[list[int], dict]:
    """Per-example lengths in the model's tokens (exact, or cl100k counts x the family's ratio + BOS/EOS)."""
    raw = _unhist(stats[f"{which}_lengths"])
    method = dict(stats["local_tokens"])
    if method["method"] == "exact":
        return raw, method
    ratio = TOKENIZER_RATIO.get(model.family, DEFAULT_TOKENIZER_RATIO)
    method.update(ratio=ratio, note=f"estimated: cl100k_base counts x {ratio} + {SPECIAL_TOKENS} special tokens "
                  f"(the {model.family} tokenizer is not available offline)")
    return [int(round(n * ratio)) + SPECIAL_TOKENS for n in raw], method


def padded_tokens_per_sequence(lengths: list[int], micro_batch: int, *, group_by_length: bool, seed: int = 0
                               ) -> float:
    """Mean padded length of a sequence: micro-batches are padded to their longest example.

    group_by_length follows transformers' LengthGroupedSampler: megabatches of 50 micro-batches sorted by length.
    """
    if not lengths:
        return 0.0
    if micro_batch == 1:
        return statistics.fmean(lengths)
    order = list(lengths)
    random.Random(seed).shuffle(order)
    chunk = 50 * micro_batch if group_by_length else micro_batch
    total = 0
    for start in range(0, len(order), chunk):
        mega = order[start:start + chunk]
        if group_by_length:
            mega.sort(reverse=True)
        for b in range(0, len(mega), micro_batch):
            batch = mega[b:b + micro_batch]
            total += max(batch) * len(batch)
    return total / len(order)


# ---------------------------------------------------------------------------------------------------------------
# Calibration from finished local runs

from ftwizard.rundir import default_runs_dir  # noqa: E402 - re-exported: callers import it from here too


def _gpu_key(name: str) -> str:
    try:
        return get_gpu(name).name
    except UsageError:
        g = match_gpu(str(name))
        return g.name if g else str(name).lower()


def _family_key(model: str) -> str:
    try:
        return get_open_model(model, allow_hub=False).family
    except UsageError:
        return str(model)


def calibration(runs_dir: str | os.PathLike | None, *, gpu: str, family: str, quant: str) -> dict:
    """Correction factors from `train_summary.json` of past local runs on the same GPU, model family and quant.

    mem_factor = median(measured peak / estimated VRAM); speed_factor = median(measured / estimated tokens/s).
    """
    root = default_runs_dir(runs_dir)
    mem, speed, used = [], [], []
    if root.is_dir():
        for summary_path in sorted(root.glob("*/train_summary.json")):
            try:
                s = json.loads(summary_path.read_text(encoding="utf-8"))
                est = s.get("estimate") or {}
                if _gpu_key(str(s.get("gpu", ""))) != gpu or _quant(str(s.get("quant", "none"))) != quant:
                    continue
                if _family_key(str(s.get("model", ""))) != family:
                    continue
                ok = False
                if float(s.get("peak_mem_gb") or 0) > 0 and float(est.get("vram_gb") or 0) > 0:
                    mem.append(float(s["peak_mem_gb"]) / float(est["vram_gb"]))
                    ok = True
                if float(s.get("tokens_per_s") or 0) > 0 and float(est.get("tokens_per_s") or 0) > 0:
                    speed.append(float(s["tokens_per_s"]) / float(est["tokens_per_s"]))
                    ok = True
                if ok:
                    used.append(summary_path.parent.name)
            except (OSError, ValueError, TypeError, AttributeError, UsageError):
                continue  # a half-written or foreign file never breaks an estimate

    def factor(xs: list[float]) -> float:
        return min(4.0, max(0.25, statistics.median(xs))) if xs else 1.0

    return {"n": len(used), "runs": used, "mem_factor": round(factor(mem), 4),
            "speed_factor": round(factor(speed), 4), "runs_dir": str(root)}


# ---------------------------------------------------------------------------------------------------------------
# Prices

def resolve_price(gpu: GPU, *, price_per_hour: float | None = None, recipe_price: float | None = None) -> dict:
    """$/h with its source: the flag, the recipe, FTWIZARD_PRICE_PER_HOUR, then the catalog's default."""
    def matching(value: float) -> dict | None:
        return next((p for p in gpu.prices if abs(float(p["usd_per_hour"]) - value) < 1e-9), None)

    env = os.environ.get("FTWIZARD_PRICE_PER_HOUR")
    for value, origin in ((price_per_hour, "--price-per-hour"), (recipe_price, "recipe hardware.price_per_hour"),
                          (env, "FTWIZARD_PRICE_PER_HOUR")):
        if value is None or value == "":
            continue
        v = _positive(origin, value)
        cat = matching(v)
        if cat:
            return {"price_per_hour": v, "price_source": f"{origin} = ${v}/h; matches {cat['source']}",
                    "price_date": cat["date"]}
        return {"price_per_hour": v, "price_source": f"{origin} (user)", "price_date": None}
    p = gpu.default_price
    if p is None:
        return {"price_per_hour": None, "price_source": f"no catalog price for {gpu.name}: pass --price-per-hour",
                "price_date": None}
    return {"price_per_hour": float(p["usd_per_hour"]), "price_source": f"{p['provider']}: {p['source']}",
            "price_date": p["date"]}


# ---------------------------------------------------------------------------------------------------------------
# Serving

def serving_estimate(*, hosted_model: "HostedModel | str", open_model: OpenModel | str, gpu: GPU | str,
                     price_per_hour: float | None = None, quant: str = "none", prompt_tokens: float,
                     completion_tokens: float, requests_per_month: float, concurrency: int = SERVING_CONCURRENCY,
                     local_token_ratio: float = 1.0, gpu_vram_gb: float | None = None) -> dict:
    """Hosted vs local serving cost per 1,000 requests and per month, and the monthly volume where local wins.

    Local decode is bounded by memory bandwidth: each step reads the weights once for the whole batch plus each
    sequence's KV cache; prefill is bounded by compute. The local GPU is rented around the clock.
    """
    hosted = _as_hosted(hosted_model)
    model = _as_model(open_model)
    g = _as_gpu(gpu)
    quant = _quant(quant)
    prompt_tokens = _positive("prompt tokens", prompt_tokens, allow_zero=True)
    completion_tokens = _positive("completion tokens", completion_tokens)
    requests_per_month = _positive("requests per month", requests_per_month, allow_zero=True)
    concurrency = _positive("concurrency", concurrency, integer=True)
    price = resolve_price(g, price_per_hour=price_per_hour)
    hosted_per_req = (prompt_tokens * hosted.input_usd_per_1m + completion_tokens * hosted.output_usd_per_1m) / 1e6
    out: dict[str, Any] = {
        "hosted_model": hosted.id, "open_model": model.id, "gpu": g.name, "quant": quant,
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "requests_per_month": requests_per_month,
        "hosted_usd_per_1k": round(hosted_per_req * 1000, 4),
        "hosted_monthly_usd": round(hosted_per_req * requests_per_month, 2),
        "hosted_price_source": hosted.price_source, "hosted_price_date": hosted.price_date,
        "price_per_hour": price["price_per_hour"], "price_source": price["price_source"],
        "price_date": price["price_date"],
    }
    w = weight_bytes(model, quant)
    weights = sum(w.values())
    p_local = prompt_tokens * local_token_ratio
    c_local = completion_tokens * local_token_ratio
    kv_per_token = 2 * model.layers * model.kv_heads * model.dim_head * 2
    vram = (gpu_vram_gb or g.vram_gb * USABLE_VRAM) * GIB
    if g.is_cpu:
        vram = (gpu_vram_gb or 16) * GIB
    free = vram - weights - CUDA_CONTEXT_GIB * GIB
    batch = min(concurrency, int(free // max(1.0, kv_per_token * (p_local + c_local)))) if free > 0 else 0
    if batch < 1:
        out.update(local_fits=False, local_usd_per_1k=None, local_tokens_per_s=None, local_monthly_usd=None,
                   break_even_requests_per_month=None,
                   note=f"{model.id} ({quant}) does not fit on {g.name} for serving")
        return out
    bw = g.mem_bandwidth_gbs * 1e9 * SERVING_BW_EFFICIENCY
    step_bytes = weights + batch * kv_per_token * (p_local + c_local / 2)
    step_flops = batch * 2 * model.matmul_params
    step_s = max(step_bytes / bw, step_flops / (peak_flops(g, "bf16") * SERVING_PREFILL_EFFICIENCY))
    tokens_per_s = batch / step_s
    prefill_s = p_local * 2 * model.matmul_params / (peak_flops(g, "bf16") * SERVING_PREFILL_EFFICIENCY)
    gpu_s_per_req = prefill_s + c_local / tokens_per_s
    capacity = HOURS_PER_MONTH * 3600 / gpu_s_per_req
    out.update(local_fits=True, local_batch=batch, local_tokens_per_s=round(tokens_per_s, 1),
               local_requests_per_gpu_month=int(capacity))
    pph = price["price_per_hour"]
    if pph is None:
        out.update(local_usd_per_1k=None, local_monthly_usd=None, break_even_requests_per_month=None)
        return out
    local_per_req = gpu_s_per_req * pph / 3600
    gpus_needed = max(1, math.ceil(requests_per_month / capacity)) if requests_per_month > 0 else 1
    out["local_usd_per_1k"] = round(local_per_req * 1000, 4)
    out["local_gpus"] = gpus_needed
    out["local_monthly_usd"] = round(gpus_needed * HOURS_PER_MONTH * pph, 2)
    break_even = None
    if hosted_per_req > local_per_req and hosted_per_req > 0:
        k = 1
        while True:  # k GPUs around the clock cost k x 730 x $/h; hosted reaches that at V = that / $ per request
            v = k * HOURS_PER_MONTH * pph / hosted_per_req
            if v <= k * capacity:
                break_even = int(math.ceil(max(v, (k - 1) * capacity)))
                break
            k += 1
    out["break_even_requests_per_month"] = break_even
    out["assumptions"] = (f"local: a {g.name} rented {HOURS_PER_MONTH} h/month per GPU, {batch} requests decoded "
                          f"together, {int(SERVING_BW_EFFICIENCY * 100)}% of memory bandwidth")
    return out


# ---------------------------------------------------------------------------------------------------------------
# The whole estimate for a recipe

def _detected_gpu() -> tuple[GPU | None, float | None, str]:
    try:
        from ftwizard.hardware import detect_gpus

        found = detect_gpus(allow_torch=False)
    except Exception:  # noqa: BLE001 - detection is best effort here
        found = []
    for g in found:
        cat = match_gpu(g.get("name", ""), g.get("vram_total_gb"))
        if cat:
            return cat, g.get("vram_total_gb"), f"detected {g.get('name')}"
    return None, None, "no GPU detected"


def estimate_recipe(recipe: "Recipe", *, gpu: str | None = None, price_per_hour: float | None = None,
                    quant: str | None = None, examples: int | None = None, tokens_per_example: int | None = None,
                    epochs: float | None = None, rank: int | None = None, hosted_model: str | None = None,
                    model: str | None = None, runs_dir: str | os.PathLike | None = "runs",
                    use_cache: bool = True, calibrate: bool = True) -> dict:
    """Local LoRA and hosted fine-tuning estimates for a recipe, with what-if overrides (DESIGN.md JSON shape)."""
    price_per_hour = _positive("--price-per-hour", price_per_hour)
    examples = _positive("--examples", examples, integer=True)
    tokens_per_example = _positive("--tokens-per-example", tokens_per_example, integer=True)
    epochs = _positive("--epochs", epochs)
    rank = _positive("--rank", rank, integer=True)
    notes: list[str] = []

    # -- what runs where ------------------------------------------------------------------
    model_id = model or recipe.model.catalog_id or recipe.model.base
    om = get_open_model(model_id)
    q = _quant(quant or recipe.model.quant)
    r = rank or recipe.lora.r
    gpu_vram_detected = None
    if gpu:
        g = get_gpu(gpu)
    elif recipe.hardware.gpu and recipe.hardware.gpu != "auto":
        g = get_gpu(recipe.hardware.gpu)
    else:
        g, gpu_vram_detected, how = _detected_gpu()
        if g is None:
            g = get_gpu("A40")
            notes.append(f"{how}: estimating for an A40 (the seed's card); use --gpu NAME for another")
        else:
            notes.append(f"{how}")
    dtype = recipe.model.dtype
    if dtype == "auto":
        dtype = "fp32" if g.is_cpu else ("bf16" if g.bf16 else "fp16")
    dtype_bytes = 4.0 if dtype == "fp32" else 2.0
    if g.is_cpu and q != "none":
        raise UsageError(f"quant = {q} needs a CUDA GPU (bitsandbytes); on the CPU use quant = none")
    hosted_id = hosted_model or recipe.hosted.model
    hm = get_hosted_model(hosted_id)
    gc = bool(recipe.train.gradient_checkpointing or q != "none")
    if q != "none" and not recipe.train.gradient_checkpointing:
        notes.append("gradient checkpointing assumed on: peft's prepare_model_for_kbit_training enables it for "
                     "8-bit/4-bit bases")

    # -- the data's tokens ---------------------------------------------------------------------
    tok_file = local_tokenizer_file(recipe.model.base)
    stats = token_stats(recipe, hm, tokenizer_file=tok_file, use_cache=use_cache)
    lengths, tok_method = local_lengths(stats, om, "train")
    eval_lengths, _ = local_lengths(stats, om, "eval")
    if tok_method.get("note"):
        notes.append("local token counts " + tok_method["note"])
    n_data = stats["n_train"]
    n = examples or n_data
    max_len = recipe.train.max_length
    if tokens_per_example:
        lengths = [tokens_per_example]
        eval_lengths = [tokens_per_example] if eval_lengths else []
    lengths = [min(x, max_len) for x in lengths]
    eval_lengths = [min(x, max_len) for x in eval_lengths]
    mean_len = statistics.fmean(lengths)
    longest = max(lengths)

    # -- local: steps, tokens, time --------------------------------------------------------------
    t = recipe.train
    nproc = recipe.hardware.nproc
    seqs_per_step = t.micro_batch_size * t.grad_accum * nproc
    if epochs is not None:
        sequences = math.ceil(epochs * n)
        steps = math.ceil(sequences / seqs_per_step)
        sequences = steps * seqs_per_step
    elif t.max_steps > 0:
        steps = t.max_steps
        sequences = steps * seqs_per_step
    else:
        steps = math.ceil(t.epochs * n / seqs_per_step)
        sequences = steps * seqs_per_step
    if t.packing:
        per_seq = float(max_len)
        train_tokens = sequences * per_seq if (t.max_steps > 0 and epochs is None) else \
            (epochs or t.epochs) * n * mean_len
        peak_seq = max_len
    else:
        per_seq = padded_tokens_per_sequence(lengths, t.micro_batch_size, group_by_length=t.group_by_length)
        train_tokens = sequences * per_seq
        peak_seq = longest
    train_tokens = int(round(train_tokens))
    n_lora = lora_params(om, r, recipe.lora.target_modules)
    fpt = train_flops_per_token(om, per_seq, gradient_checkpointing=gc, n_lora=n_lora)
    eff = efficiency(g, q)
    rate = peak_flops(g, dtype) * eff
    tokens_per_s = rate / fpt
    train_s = train_tokens / tokens_per_s
    eval_s = 0.0
    n_evals = steps // t.eval_every if t.eval_every > 0 and eval_lengths else 0
    eval_tokens = 0
    if n_evals:
        n_eval_ex = min(t.eval_loss_examples or len(eval_lengths), len(eval_lengths))
        eval_per_seq = padded_tokens_per_sequence(eval_lengths[:n_eval_ex] if tokens_per_example else
                                                  eval_lengths, t.micro_batch_size, group_by_length=False)
        eval_tokens = int(n_evals * n_eval_ex * eval_per_seq)
        eval_s = eval_tokens * eval_flops_per_token(om, eval_per_seq) / rate
    load_s = om.params * 2 / (LOAD_GBPS * 1e9)
    if nproc > 1:
        scale = nproc * MULTI_GPU_SCALING
        train_s, eval_s = train_s / scale, eval_s / scale

    # -- local: memory ----------------------------------------------------------------------------
    vram = estimate_vram(om, quant=q, rank=r, target_modules=recipe.lora.target_modules,
                         lora_dropout=recipe.lora.dropout, micro_batch=t.micro_batch_size, seq_len=peak_seq,
                         gradient_checkpointing=gc, optimizer=t.optimizer, dtype_bytes=dtype_bytes)
    if vram["unknown_target_modules"]:
        notes.append("LoRA targets not counted (unknown to the estimator): "
                     + ", ".join(vram["unknown_target_modules"]))

    # -- calibration from past runs ------------------------------------------------------------------
    cal = calibration(runs_dir, gpu=g.name, family=om.family, quant=q) if calibrate else \
        {"n": 0, "runs": [], "mem_factor": 1.0, "speed_factor": 1.0}
    raw = {"vram_gb": vram["vram_gb"], "tokens_per_s": round(tokens_per_s, 2),
           "hours": round((train_s + eval_s + load_s) / 3600, 4)}
    vram_gb = vram["vram_gb"] * cal["mem_factor"]
    train_s /= cal["speed_factor"]
    eval_s /= cal["speed_factor"]
    tokens_per_s *= cal["speed_factor"]
    if cal["n"]:
        notes.append(f"calibrated from {cal['n']} run{'s' if cal['n'] != 1 else ''} on {g.name} "
                     f"({om.family}, quant {q}): memory x{cal['mem_factor']}, speed x{cal['speed_factor']}")
    hours = (train_s + eval_s + load_s) / 3600

    if g.is_cpu:
        try:
            import psutil

            gpu_vram = round(psutil.virtual_memory().total / GIB, 1)
        except Exception:  # noqa: BLE001
            gpu_vram = 16.0
        usable = gpu_vram * 0.8
    else:
        gpu_vram = gpu_vram_detected or g.vram_gb
        usable = gpu_vram_detected or g.vram_gb * USABLE_VRAM
    recipe_price = recipe.hardware.price_per_hour
    if recipe_price is not None and gpu and recipe.hardware.gpu not in ("auto", "") \
            and get_gpu(recipe.hardware.gpu).name != g.name:
        recipe_price = None  # the recipe's price is for its own card, not the what-if one
        if price_per_hour is None:
            notes.append(f"the recipe's ${recipe.hardware.price_per_hour}/h is for {recipe.hardware.gpu}: "
                         f"{g.name} priced from the catalog")
    price = resolve_price(g, price_per_hour=price_per_hour, recipe_price=recipe_price)
    cost = None if price["price_per_hour"] is None else hours * price["price_per_hour"] * nproc

    local = {
        "model": om.id, "model_source": om.source, "family": om.family, "params": om.params,
        "gpu": g.name, "gpu_count": nproc, "quant": q, "dtype": dtype,
        "vram_gb": round(vram_gb, 1), "gpu_vram_gb": gpu_vram, "usable_vram_gb": round(usable, 1),
        "fits": vram_gb <= usable,
        "train_tokens": train_tokens, "train_sequences": sequences, "steps": steps,
        "epochs_equivalent": round(sequences / n, 2),
        "tokens_per_s": round(tokens_per_s, 1), "hours": round(hours, 2),
        "cost_usd": None if cost is None else round(cost, 2),
        "price_per_hour": price["price_per_hour"], "price_source": price["price_source"],
        "price_date": price["price_date"], "gradient_checkpointing": gc,
        "calibrated_from_runs": cal["n"],
        "breakdown": {
            "vram": vram["parts_gb"], "lora_params": n_lora, "trainable_pct": vram["trainable_pct"],
            "peak_seq_len": peak_seq, "micro_batch": t.micro_batch_size,
            "time": {"train_s": round(train_s), "eval_loss_s": round(eval_s), "load_s": round(load_s),
                     "eval_passes": n_evals, "eval_tokens": eval_tokens,
                     "flops_per_token": fpt, "peak_tflops": round(peak_flops(g, dtype) / 1e12, 2),
                     "efficiency": eff},
            "tokens": {"examples": n, "mean_len": round(mean_len, 1), "max_len": longest,
                       "padded_len": round(per_seq, 1), "max_length": max_len, **tok_method,
                       "what_if": bool(examples or tokens_per_example)},
            "calibration": cal, "uncalibrated": raw,
        },
    }

    # -- hosted ---------------------------------------------------------------------------------
    hs = stats["hosted"]
    if tokens_per_example:
        per_epoch = n * min(tokens_per_example, hm.max_tokens_per_example)
    elif examples:
        per_epoch = int(round(hs["billed_tokens_per_epoch"] / max(1, n_data) * n))
    else:
        per_epoch = hs["billed_tokens_per_epoch"]
    from ftwizard.chatfile import default_epochs

    if epochs is not None:
        h_epochs: float = epochs
        epochs_rule = "--epochs"
    elif isinstance(recipe.hosted.epochs, int):
        h_epochs = recipe.hosted.epochs
        epochs_rule = "recipe hosted.epochs"
    else:
        h_epochs = default_epochs(n)
        epochs_rule = "auto (cookbook rule: 3 epochs, clamped so that 100 <= examples x epochs <= 25,000)"
    billed = int(round(per_epoch * h_epochs))
    h_cost = billed * hm.training_usd_per_1m / 1e6
    wd = wind_down()
    until = hm.extra.get("training_available_until") if hm.provider == "openai" else None
    hosted = {
        "model": hm.id, "provider": recipe.hosted.provider, "encoding": hm.encoding,
        "billed_tokens_per_epoch": per_epoch, "billed_tokens": billed, "epochs": h_epochs,
        "epochs_rule": epochs_rule, "examples": n, "usd_per_1m_training": hm.training_usd_per_1m,
        "cost_usd": round(h_cost, 2), "price_source": hm.price_source, "price_date": hm.price_date,
        "available_until": until,
        "availability": (f"OpenAI stops new fine-tuning jobs after {until} "
                         f"({wd.get('source', '')}); organisations that never fine-tuned lost job creation on "
                         f"{wd.get('never_fine_tuned', '?')}") if until else None,
        "n_too_long": hs.get("n_too_long", 0),
    }
    if recipe.hosted.provider == "azure":
        hosted["note"] = "Azure OpenAI bills training per token or per hour by region; OpenAI's price shown"

    # -- serving ----------------------------------------------------------------------------------
    serving = None
    if price["price_per_hour"] is not None:
        try:
            serving = serving_estimate(
                hosted_model=hm, open_model=om, gpu=g, price_per_hour=price["price_per_hour"], quant=q,
                prompt_tokens=max(1.0, hs["prompt_mean"]), completion_tokens=max(1.0, hs["assistant_mean"]),
                requests_per_month=recipe.eval.requests_per_month,
                local_token_ratio=TOKENIZER_RATIO.get(om.family, DEFAULT_TOKENIZER_RATIO),
                gpu_vram_gb=gpu_vram_detected)
        except UsageError as e:
            notes.append(f"serving: {e}")

    ratio = None
    if cost and cost > 0:
        ratio = round(h_cost / cost, 2)
    return {"recipe": recipe.name, "local": local, "hosted": hosted, "ratio": ratio, "serving": serving,
            "notes": notes, "token_stats_cached": stats.get("cached", False)}


def run_record_estimate(estimate: dict) -> dict:
    """What a local run stores as `train_summary.json`'s `estimate`: the uncalibrated figures (so calibration
    ratios never compound)."""
    raw = estimate["local"]["breakdown"]["uncalibrated"]
    return {"vram_gb": raw["vram_gb"], "hours": raw["hours"], "tokens_per_s": raw["tokens_per_s"],
            "gpu": estimate["local"]["gpu"], "quant": estimate["local"]["quant"], "model": estimate["local"]["model"]}
