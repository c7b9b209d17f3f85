"""LoRA parameters, training memory and FLOPs of a model shape (dense or mixture-of-experts)."""

from __future__ import annotations

from typing import Iterable

from ftwizard.catalog import OpenModel
from ftwizard.estimate.base import (ACT_SAVED, ALLOCATOR_GIB, ARCH_MODULE_ALIASES, CUDA_CONTEXT_GIB, FRAGMENTATION,
                                    FUSED_MODULES, GIB, LOSS_FP32_COPIES, MODULE_ALIASES, NF4_BLOCK, _as_model,
                                    _positive, _quant)


def module_shapes(model: OpenModel) -> dict[str, tuple[int, int]]:
    """(in, out) features of each linear of one decoder block by name (MoE: of one expert's MLP)."""
    out: dict[str, tuple[int, int]] = {}
    for g in model.linears():
        out.setdefault(g.name, (g.d_in, g.d_out))
    return out


def _target_names(model: OpenModel, target: str) -> tuple[str, ...] | None:
    """The model's matrices a LoRA target name adapts (None: a name this estimator does not know)."""
    present = module_shapes(model)
    arch = ARCH_MODULE_ALIASES.get(model.arch or model.family, {})
    # the shape's own names are module names unless the architecture spells them otherwise (GPT-2 has no o_proj)
    own = set(target_spellings(model)) if arch else set(present) | set(FUSED_MODULES)
    parts = target.split(".")
    # PEFT matches a name or the end of a dotted module path: `mlp.down_proj`, `attn.c_proj`
    for key in [target] + [".".join(parts[i:]) for i in range(1, len(parts))]:
        names = (arch.get(key) if arch else MODULE_ALIASES.get(key)) or ((key,) if key in own else None)
        if names is None:
            continue
        found: list[str] = []
        for n in names:
            if n in present:
                found.append(n)
            elif n in FUSED_MODULES:
                found.extend(m for m in FUSED_MODULES[n] if m in present)
        return tuple(found) or None
    return None


def resolve_targets(model: OpenModel, target_modules: Iterable[str]) -> tuple[list[str], list[str]]:
    """(the model's matrices a LoRA target list adapts, names this estimator does not know for this model).
    `all-linear` is every linear of the decoder blocks (PEFT leaves the lm_head out)."""
    names: list[str] = []
    unknown: list[str] = []
    for t in target_modules:
        if t in ("all-linear", "all_linear"):
            names.extend(module_shapes(model))
            continue
        found = _target_names(model, t)
        if found is None:
            unknown.append(t)
        else:
            names.extend(found)
    return list(dict.fromkeys(names)), unknown


def target_spellings(model: OpenModel) -> list[str]:
    """The module names a PEFT user writes for this model's linear layers (GPT-2: c_attn, c_proj, c_fc)."""
    arch = ARCH_MODULE_ALIASES.get(model.arch or model.family, {})
    out: list[str] = []
    for name in module_shapes(model):
        spelled = [k for k, v in arch.items() if name in v and "." not in k]
        out.extend(spelled or [name])
    return list(dict.fromkeys(out))


def lora_params(model: OpenModel, rank: int, target_modules: Iterable[str]) -> int:
    """r x sum(d_in + d_out) over every copy of the targeted matrices (every layer, every expert)."""
    return adapter_params(model, rank, resolve_targets(model, target_modules)[0])


def adapter_params(model: OpenModel, rank: int, names: Iterable[str]) -> int:
    """`lora_params` of matrices already resolved (`resolve_targets`' first list)."""
    names = set(names)
    return rank * sum(g.layers * g.copies * (g.d_in + g.d_out) for g in model.linears() if g.name in names)


def weight_bytes(model: OpenModel, quant: str, dtype_bytes: float = 2.0, *, kbit_fp32: bool = False
                 ) -> dict[str, float]:
    """Bytes of the base weights: block linears at the quantization's width, embeddings and lm_head in 16-bit
    (in fp32 with `kbit_fp32`: peft's prepare_model_for_kbit_training upcasts every unquantized weight)."""
    quant = _quant(quant)
    lin = model.linear_params
    if quant == "none":
        linear = lin * dtype_bytes
    elif quant == "8bit":  # int8 weights + one fp32 scale per output row
        rows = sum(g.layers * g.copies * g.d_out for g in model.linears())
        linear = lin * 1.0 + rows * 4
    else:  # nf4: half a byte per weight + an fp32 absmax per block of 64
        linear = lin * 0.5 + lin / NF4_BLOCK * 4
    # learned positions (GPT-2, OPT) stay 16-bit like the embeddings; biases (< 0.1%) are left out
    embed = ((model.embedding_params + model.positions * model.hidden)
             * (dtype_bytes if quant == "none" else (4.0 if kbit_fp32 else 2.0)))
    norm_width = model.hidden * (2 if model.norm_bias else 1)
    norms = (model.block_norms * model.layers + 1) * norm_width * (4 if kbit_fp32 or dtype_bytes == 4 else 2)
    return {"linear": linear, "embeddings": embed, "norms": norms}


def activation_bytes_per_token(model: OpenModel, targets: list[str], lora_dropout: float, act_bytes: float = 2.0,
                               *, liger: bool = False) -> float:
    """What autograd keeps per token for one decoder block when only LoRA adapters train (SDPA attention).
    Liger's fused RMSNorm keeps its 16-bit input (not an fp32 copy and the output), its fused SwiGLU the gate and
    up projections (SiLU is recomputed)."""
    h = model.hidden
    i = model.mlp_width
    q, kv = model.q_dim, model.kv_dim
    a = act_bytes
    # block_norms RMSNorms: fp32 upcast + normed output (LayerNorm keeps the same)
    norms = model.block_norms * (a * h if liger else 4 * h + 2 * a * h)
    attention = a * (2 * q + 2 * kv)           # SDPA keeps q, k, v and its output
    if model.gated_mlp:
        mlp = (2 if liger else 3) * a * i      # SiLU input, its output and the up projection
    else:                                      # frozen fc1 / fc2 keep nothing; the activation what it needs
        mlp = ACT_SAVED.get(model.hidden_act, 1) * a * i
    shapes = module_shapes(model)
    lora = 0.0
    for name in targets:
        d_in = shapes[name][0]
        if lora_dropout > 0:
            lora += (a + 1) * d_in             # dropout output + mask, per adapted module
        elif name == "down_proj":
            lora += a * d_in                   # the MLP product is otherwise not kept
    return norms + attention + mlp + lora


def activation_split(model: OpenModel, targets: list[str], lora_dropout: float, act_bytes: float = 2.0, *,
                     micro_batch: int = 1, seq_len: float = 512, gradient_checkpointing: bool = True,
                     attn: str = "sdpa", liger: bool = False, offload: bool = False) -> dict[str, float]:
    """Bytes of activations at the peak on the device, and bytes sent to host memory per micro-batch.

    Kept (no offloading): every layer's saved tensors, or with checkpointing every layer's input plus the one layer
    being recomputed. Offloaded (the trainer's hooks around the decoder stack, backends/local/offload.py): what the
    stack saves goes to the host - every layer's saved tensors, or with checkpointing every layer's input (torch's
    non-reentrant checkpoint saves it through the outer hooks, the layer's own saves stay inside) - and the final
    RMSNorm's fp32 input and its reciprocal RMS. The device then holds one layer's saved tensors brought back (and,
    checkpointing, that layer's input as well). The lm_head and loss are outside the hooks: the `logits` part."""
    tokens = micro_batch * seq_len
    per_layer = activation_bytes_per_token(model, targets, lora_dropout, act_bytes, liger=liger) * tokens
    if attn == "eager":  # softmax probabilities kept for backward (16-bit), per layer
        per_layer += model.heads * micro_batch * seq_len * seq_len * act_bytes
    layer_input = tokens * model.hidden * act_bytes
    if not offload:
        device = model.layers * layer_input + per_layer if gradient_checkpointing else model.layers * per_layer
        return {"device": device, "offloaded": 0.0}
    final_norm = tokens * ((act_bytes if liger else 4) * model.hidden + 4)  # Liger's RMSNorm keeps its 16-bit input
    if gradient_checkpointing:
        return {"device": layer_input + per_layer, "offloaded": model.layers * layer_input + final_norm}
    return {"device": per_layer, "offloaded": model.layers * per_layer + final_norm}


def estimate_vram(model: OpenModel | str, *, quant: str = "none", rank: int = 8,
                  target_modules: Iterable[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
                  lora_dropout: float = 0.05, micro_batch: int = 1, seq_len: int = 512,
                  gradient_checkpointing: bool = True, optimizer: str = "adamw_torch",
                  adapter_bytes: float = 4.0, dtype_bytes: float = 2.0, kbit_prep: bool | None = None,
                  loss_chunks: int = 1, attn: str = "sdpa", liger: bool = False, shards: int = 1,
                  loss_fp32: bool = True, eval_seq_len: int = 0, offload: bool = False) -> dict:
    """Peak training memory in GiB with its breakdown (weights, adapters, optimizer, activations, logits, overhead).

    `seq_len` is the longest padded sequence of a micro-batch: the peak comes from the longest batch.
    `kbit_prep` (default: on for 8bit/4bit) models peft's prepare_model_for_kbit_training: unquantized weights
    (embeddings, lm_head, norms) upcast to fp32, so the logits come out in fp32 too. `loss_chunks` > 1: a
    chunked cross-entropy (torchtune, Unsloth) upcasts and keeps one chunk of the logits at a time.
    `attn` = eager also keeps every layer's attention probabilities (heads x seq^2); FlashAttention-2 and SDPA
    keep O(seq). `liger`: the fused linear cross-entropy never materialises the logits (one chunk of tokens at a
    time). `shards` > 1: FSDP splits weights, adapters, gradients and optimizer states across that many GPUs and
    gathers one block at a time. `eval_seq_len` > 0: the run also takes eval-loss steps on micro-batches padded to
    that length (forward only, in eval mode, where Liger's fused loss is off and the logits are materialised).
    `offload`: train.activation_offloading (`activation_split`); the bytes it sends to
    the host per micro-batch are `offloaded_gb`, outside the device's total.
    `vram_gb` is what the device holds (nvidia-smi); `torch_peak_gb` leaves out the CUDA context, as
    torch.cuda.max_memory_reserved() does.
    """
    model = _as_model(model)
    quant = _quant(quant)
    rank = _positive("rank", rank, integer=True)
    micro_batch = _positive("micro-batch size", micro_batch, integer=True)
    seq_len = _positive("sequence length", seq_len, integer=True)
    targets, unknown = resolve_targets(model, target_modules)
    if kbit_prep is None:
        kbit_prep = quant != "none"
    w = weight_bytes(model, quant, dtype_bytes, kbit_fp32=kbit_prep)
    n_lora = adapter_params(model, rank, targets)
    opt_bytes = 2.0 if "8bit" in optimizer or "8_bit" in optimizer else (0.0 if optimizer == "sgd" else 8.0)
    tokens = micro_batch * seq_len
    act_dtype = dtype_bytes
    acts = activation_split(model, targets, lora_dropout, act_dtype, micro_batch=micro_batch, seq_len=seq_len,
                            gradient_checkpointing=gradient_checkpointing, attn=attn, liger=liger, offload=offload)
    activations = acts["device"]
    # The logits: 16-bit, or fp32 when peft upcast the lm_head. The loss path's copies: fp32, unless the model's
    # own code takes cross-entropy in 16-bit (`loss_fp32` False: Qwen v1's remote code).
    logits_width = 4 if kbit_prep else act_dtype
    copy_width = 4 if (loss_fp32 or logits_width == 4) else act_dtype
    if liger:
        # Liger's fused linear cross-entropy: chunks of tokens / ceil(vocab / hidden), fp32 logits and their
        # gradient for one chunk, plus the fp32 gradient of the hidden states
        chunk = max(1.0, tokens / max(1, -(-model.vocab // model.hidden)))
        logits = chunk * model.vocab * 8 + tokens * model.hidden * 4
    else:
        # The HF loss path at its peak (the backward of cross-entropy): the logits (16-bit, fp32 when peft upcast
        # the lm_head), log-softmax's fp32 output kept for backward, and the fp32 gradients in and out of it:
        # LOSS_FP32_COPIES fp32 copies beside the logits (a 16-bit logit's fp32 upcast is freed by then).
        logits = tokens * model.vocab * (logits_width + copy_width * LOSS_FP32_COPIES / max(1, loss_chunks))
    quant_workspace = 0.0
    if quant == "8bit":   # bitsandbytes dequantizes one weight to fp16 for the backward matmul
        quant_workspace = 2 * max(g.weights for g in model.linears()) * 2
    elif quant == "4bit":
        quant_workspace = max(g.weights for g in model.linears()) * 2
    if shards > 1:  # FSDP: each GPU holds 1/shards, and gathers one block (and prefetches the next) in full
        block = (w["linear"] / model.layers) * 2
        w = {k: v / shards for k, v in w.items()}
        w["linear"] += block
    sharded = max(1, shards)
    parts = {
        "weights_quantized": w["linear"],
        "weights_16bit_embeddings": w["embeddings"] + w["norms"],
        "lora_params": n_lora * adapter_bytes / sharded,
        "lora_grads": n_lora * adapter_bytes / sharded,
        "optimizer_states": n_lora * opt_bytes / sharded,
        "activations": activations,
        "logits": logits,
        "quant_workspace": quant_workspace,
    }
    parts["allocator_overhead"] = ALLOCATOR_GIB * GIB + FRAGMENTATION * (activations + logits)
    # The optimizer step comes after the backward has freed activations and logits, but torch's foreach AdamW
    # (adamw_torch, the Trainer's default) builds sqrt(exp_avg_sq) for every adapter parameter at once before it
    # divides: one fp32 copy of the states' size. With large adapters at short sequences that is the peak.
    step_temp = n_lora * 4 / sharded if optimizer in ("adamw_torch", "adam", "adamw") else 0.0
    transients = activations + logits + quant_workspace + FRAGMENTATION * (activations + logits)
    parts["optimizer_step"] = max(0.0, step_temp - transients)
    # An eval-loss step runs between optimizer steps (the adapters' gradients are freed by then) with no autograd
    # graph: one block's activations at a time, and the full logits with the loss path's fp32 upcast and
    # log-softmax output. Liger fuses the loss only in training mode (its forward materialises the logits when
    # the model is in eval mode), so with Liger this pass can outgrow the training step it follows.
    eval_excess = 0.0
    if eval_seq_len > 0:
        eval_tokens = micro_batch * eval_seq_len
        upcast = copy_width if copy_width != logits_width else 0.0
        eval_logits = eval_tokens * model.vocab * (logits_width + upcast + copy_width)
        eval_act = activation_bytes_per_token(model, targets, lora_dropout, act_dtype, liger=liger) * eval_tokens
        during_eval = quant_workspace + (eval_logits + eval_act) * (1 + FRAGMENTATION)
        during_training = n_lora * adapter_bytes / sharded + max(transients, step_temp)
        eval_excess = max(0.0, during_eval - during_training)
    parts["eval_loss_pass"] = eval_excess
    parts["cuda_context"] = CUDA_CONTEXT_GIB * GIB
    gib = {k: round(v / GIB, 3) for k, v in parts.items()}
    total = sum(parts.values()) / GIB
    return {"vram_gb": round(total, 2), "torch_peak_gb": round(total - CUDA_CONTEXT_GIB, 2), "parts_gb": gib, "lora_params": n_lora, "trainable_pct":
            round(100 * n_lora / model.params, 4), "micro_batch": micro_batch, "seq_len": seq_len,
            "gradient_checkpointing": bool(gradient_checkpointing), "quant": quant,
            "activation_offloading": bool(offload), "offloaded_gb": round(acts["offloaded"] / GIB, 3),
            "unknown_target_modules": unknown}
