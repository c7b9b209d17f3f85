"""Training speed of a LoRA configuration from the card's datasheet: FLOPs, memory traffic and host overhead.

One micro-batch of T = micro_batch x seq tokens costs, on the GPU (docs/estimates.md, "Time"):
- every block linear as a roofline: max(2 T k n FLOPs / (peak x compute efficiency), bytes / (bandwidth x
  bandwidth efficiency)), the bytes being the weight (2 B bf16; for 4-bit / 8-bit also its dequantisation to
  16-bit) and the activations in and out; passes: forward, input gradients, and the forward again when
  checkpointing. Small micro-batches are weight-bound, long ones compute-bound, without a fitted switch.
- the lm_head (forward + input gradient, never recomputed) and the loss path's traffic over the vocabulary (HF:
  16-bit logits, an fp32 copy, log-softmax and their gradients; Liger's fused linear cross-entropy: one pass);
- attention by implementation (FlashAttention-2 / SDPA skip the masked half, backward 2.5x forward; eager
  computes the whole square and writes its scores);
- elementwise traffic per layer (RMSNorm in fp32, RoPE, SwiGLU, residuals, LoRA dropout / scale / add), fused
  by Liger and by torch.compile;
- the LoRA path: its FLOPs (forward, both gradients) and per-module traffic;
- activation offloading: the offloaded bytes to the host and back over the card's PCIe link, copied on a side
  stream: what the forward's and the backward's kernels cannot hide.
On the host, eager PyTorch dispatches every op of every layer: a cost per layer and per adapted module and pass,
which torch.compile removes most of. The micro-batch takes the larger of the two (they overlap, smoothly), each
optimizer step adds a fixed cost and the optimizer's traffic. Several GPUs: FSDP adds its measured efficiency.

Every coefficient in `SPEED` is fitted on published measurements (benchmarks/bench_estimator.py, split by source).
"""

from __future__ import annotations

from dataclasses import dataclass

from ftwizard.catalog import GPU, OpenModel, flash_attention_2_runs_on
from ftwizard.estimate.base import ACT_BYTES, DEFAULT_HOST_LINK_GBS, HOST_LINK_EFF, NF4_BLOCK, SPEED
from ftwizard.estimate.flops import peak_flops, power_cap
from ftwizard.estimate.memory import activation_split, adapter_params, resolve_targets, weight_bytes


@dataclass(frozen=True)
class RunShape:
    """What the trainer runs, as far as speed goes (one GPU's share)."""

    quant: str = "none"
    rank: int = 8
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    micro_batch: int = 1
    seq_len: float = 512.0            # padded tokens per sequence (packing: max_length)
    grad_accum: int = 1
    gradient_checkpointing: bool = False
    attn: str = "sdpa"                # flash_attention_2 | sdpa | eager
    liger: bool = False
    compile: bool = False
    lora_dropout: float = 0.05
    gpus: int = 1
    fsdp: bool = False
    gptq: bool = False                # 4-bit from a GPTQ checkpoint (AutoGPTQ kernels), not bitsandbytes nf4
    offload: bool = False             # train.activation_offloading


def _roofline(flops: float, nbytes: float, peak: float, bw: float, p: dict) -> float:
    return max(flops / (peak * p["compute_eff"]), nbytes / (bw * p["bw_eff"]))


def _smooth_max(a: float, b: float, k: float) -> float:
    return (a**k + b**k) ** (1.0 / k)


# AutoGPTQ's torch dequantisation (the path transformers takes with `disable_exllama=True` once a micro-batch has
# more than one row): per weight it reads the packed int32 word and writes the shifted copy as int32 (0.5 + 4 B),
# narrows it to int8 (4 + 1), masks it (1 + 1), subtracts the group's zero (1 + 1) and scales it to fp16 (1 + 2):
# 16.5 B, per-group scales and zeros aside (the matmul's read of the fp16 result is the linears' roofline). Counted,
# not fitted: only one published table runs GPTQ, so a fitted cost could never be checked on another source.
GPTQ_DEQUANT_BYTES = 0.5 + 4 + 4 + 1 + 1 + 1 + 1 + 1 + 1 + 2


def _dequant_bytes_per_param(quant: str, p: dict, gptq: bool = False) -> float:
    """Bytes a quantized weight costs per pass before its matmul: read the packed weight and write the 16-bit copy
    the matmul then reads like a 16-bit weight. A separate kernel, so it adds to the matmul rather than overlapping
    it, and a quantized base is never faster than a 16-bit one at the same shape. `dequant_*`: bitsandbytes'
    kernels' cost beyond that traffic (fitted)."""
    if quant == "4bit" and gptq:
        return GPTQ_DEQUANT_BYTES
    if quant == "4bit":
        return 0.5 + 4 / NF4_BLOCK + 2 * (1 + p["dequant_4bit"])
    if quant == "8bit":
        return 1.0 + 2 * (1 + p["dequant_8bit"])
    return 0.0


def _dequant_passes(shape: "RunShape") -> int:
    """How often a step dequantizes each weight. bitsandbytes keeps only the packed weight, so its backward
    dequantizes again: forward, input gradient, and the recomputed forward when checkpointing. AutoGPTQ's torch path
    builds the fp16 weight as an ordinary tensor the matmul saves for backward: forward, and the recompute."""
    gc = 1 if shape.gradient_checkpointing else 0
    return 1 + gc if shape.gptq else 2 + gc


def step_time(model: OpenModel, gpu: GPU, shape: RunShape, *, dtype: str = "bf16", params: dict | None = None
              ) -> dict:
    """Seconds per micro-batch and per optimizer step on one GPU, tokens/s, and where the time goes."""
    p = dict(SPEED if params is None else params)
    peak = peak_flops(gpu, dtype) * power_cap(gpu, p["compute_eff"])
    bw = gpu.mem_bandwidth_gbs * 1e9
    a = 4.0 if dtype == "fp32" else 2.0
    T = shape.micro_batch * shape.seq_len
    S = shape.seq_len
    gc = 1 if shape.gradient_checkpointing else 0
    block_passes = 2 + gc
    h, V, L = model.hidden, model.vocab, model.layers
    qd, kvd = model.q_dim, model.kv_dim
    i_act = model.mlp_width
    targets, _ = resolve_targets(model, shape.targets)
    wb = 2.0

    # block linears: a roofline per linear per pass, summed over the layers that hold it
    by_layers: dict[int, float] = {}
    for g in model.linears():
        k, n, copies, active = g.d_in, g.d_out, g.copies, g.active
        tokens_each = T * active / copies if copies > 1 else T
        touched = min(copies, max(1, int(T * active))) if copies > 1 else 1
        flops = 2 * tokens_each * k * n * copies if copies > 1 else 2 * T * k * n
        nbytes = touched * k * n * wb + active * T * (k + n) * a
        by_layers[g.layers] = by_layers.get(g.layers, 0.0) + _roofline(flops, nbytes, peak, bw, p)
    linear_s = sum(s * (layers * block_passes) for layers, s in by_layers.items())
    held = model.linear_params  # every expert of a MoE is dequantised: bitsandbytes does whole weights
    dequant_s = (held * _dequant_bytes_per_param(shape.quant, p, shape.gptq) * _dequant_passes(shape)
                 / (bw * p["bw_eff"]))

    # lm_head (forward + input gradient) and the loss over the vocabulary
    head_s = 2 * _roofline(2 * T * h * V, h * V * 2 + T * (h + V) * a, peak, bw, p)
    loss_bytes = T * V * (p["loss_bytes_liger"] if shape.liger else p["loss_bytes"])
    head_s += loss_bytes / (bw * p["bw_eff"])

    # attention
    attn_unit = 2 * qd * S * T  # per layer: one causal-halved QK^T + PV forward
    if shape.attn == "eager":
        attn_flops = attn_unit * 2 * (3 + gc)
        score_bytes = model.heads * shape.micro_batch * S * S * 2 * 6 * (3 + gc) / 3
    else:
        attn_flops = attn_unit * (1 + 2.5 + gc)
        score_bytes = 0.0
    # SDPA / FlashAttention-2 run the flash kernel on Ampere and newer; older cards (T4, V100) have no FlashAttention-2
    # kernels and SDPA takes PyTorch's memory-efficient kernel, a slower one with its own efficiency
    if shape.attn == "eager" or flash_attention_2_runs_on(gpu.compute_capability):
        attn_eff = p["attn_eff"]
    else:
        attn_eff = p["attn_eff_mem_efficient"]
    attn_s = L * (attn_flops / (peak * attn_eff) + score_bytes / (bw * p["bw_eff"]))

    # elementwise traffic per token per layer (forward; backward twice that; recompute once more)
    # the MLP's activation: SwiGLU reads gate and up and writes their product (10 B, Liger's fused kernel 6 B); a
    # 2-matrix MLP's GELU reads and writes one tensor (4 B)
    act = (6 if shape.liger else 10) if model.gated_mlp else ACT_BYTES.get(model.hidden_act, 4)
    rope = (qd + kvd) * model.rotary  # RoPE on the rotated share of q and k (none: learned positions, ALiBi)
    if shape.liger:
        elem = model.block_norms * 8 * h + 8 * rope + act * i_act + 12 * h
    else:
        elem = model.block_norms * 44 * h + 24 * rope + act * i_act + 12 * h
    lora_elem = 0.0
    lora_flops = 0.0
    for g in model.linears():  # per layer on average: the adapted matrices a token runs through
        if g.name in targets:
            k, n, share = g.d_in, g.d_out, g.active * g.layers / L
            lora_elem += share * ((7 * k if shape.lora_dropout > 0 else 2 * k) + 12 * n)
            lora_flops += share * 2 * shape.rank * (k + n)
    elem_scale = p["elem_scale"] * (p["compile_elem"] if shape.compile else 1.0)
    elem_s = L * T * (elem + lora_elem) * a / 2 * (3 + gc) * elem_scale / (bw * p["bw_eff"])
    lora_s = L * T * lora_flops * (3 + gc) / (peak * p["lora_eff"])

    gpu_s = linear_s + dequant_s + head_s + attn_s + elem_s + lora_s
    # activation offloading: what the decoder stack saves goes to the host in the forward and back in the backward,
    # copied on a side stream (backends/local/offload.py) while the kernels run, so only what the link cannot hide
    # behind the pass shows: the forward's share of the GPU time (one pass of 3, or 4 with the recompute) against
    # one direction's copies, the backward's against the other, each a smooth maximum (as host and GPU time are)
    offload_s = 0.0
    if shape.offload:
        moved = activation_split(model, targets, shape.lora_dropout, a, micro_batch=shape.micro_batch,
                                 seq_len=S, gradient_checkpointing=bool(gc), attn=shape.attn, liger=shape.liger,
                                 offload=True)["offloaded"]
        copy_s = moved / ((gpu.host_link[0] or DEFAULT_HOST_LINK_GBS) * 1e9 * HOST_LINK_EFF)
        fwd_s = gpu_s / (3 + gc)
        bwd_s = gpu_s - fwd_s
        offload_s = (_smooth_max(fwd_s, copy_s, p["overlap"]) - fwd_s
                     + _smooth_max(bwd_s, copy_s, p["overlap"]) - bwd_s)
    gpu_s += offload_s
    # host: eager dispatch per layer and per adapted module, per pass (backward counts as two)
    host_s = L * (p["host_layer_s"] + p["host_lora_s"] * len(targets)) * (3 + gc) + p["host_mb_s"]
    if shape.compile:
        host_s *= p["compile_host"]
    micro_s = _smooth_max(gpu_s, host_s, p["overlap"])
    # FSDP gathers every layer's weights (as stored: 16-bit, or packed 4/8-bit) for the forward and again for the
    # backward (which runs the checkpointed forward on the same gather); a ring all-gather brings each GPU
    # (n-1)/n of them over its link. Prefetching overlaps the gather with compute, so it shows at small micro-batches.
    gather_s = 0.0
    if shape.gpus > 1 and shape.fsdp and gpu.link_gbs > 0:
        held_bytes = sum(weight_bytes(model, shape.quant).values())
        gather_s = 2 * (shape.gpus - 1) / shape.gpus * held_bytes / (gpu.link_gbs * 1e9 * p["link_eff"])
        micro_s = _smooth_max(micro_s, gather_s, p["overlap"])

    n_lora = adapter_params(model, shape.rank, targets)
    opt_s = p["step_s"] + n_lora * 32 / (bw * p["bw_eff"])
    step_s = shape.grad_accum * micro_s + opt_s
    tokens_per_s = shape.grad_accum * T / step_s
    if shape.gpus > 1:
        tokens_per_s *= p["fsdp_eff"] if shape.fsdp else p["ddp_eff"]
    return {"tokens_per_s": tokens_per_s, "micro_batch_s": micro_s, "step_s": step_s,
            "parts_s": {"linears": linear_s, "dequantize": dequant_s, "lm_head_and_loss": head_s, "attention": attn_s,
                        "elementwise": elem_s, "lora": lora_s, "offload_transfer": offload_s, "gpu": gpu_s, "host": host_s, "fsdp_gather": gather_s,
                        "optimizer": opt_s},
            "bound": "interconnect" if gather_s > max(gpu_s, host_s) else "host" if host_s > gpu_s else
            ("compute" if linear_s + attn_s > elem_s + head_s else "memory")}


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def speed_knobs(recipe, gpu: GPU, dtype: str) -> dict:
    """What the trainer will turn on, resolved as the local worker resolves it (its `speed.resolve_speed`):
    attention `auto` = FlashAttention-2 on a CUDA GPU of compute capability 8.0+ in 16-bit when flash-attn is
    installed here, else SDPA;
    Liger `auto` = on a GPU when liger-kernel is installed here; FSDP only with several processes; activation
    offloading on a GPU only (the worker leaves it off on the CPU, where activations already are in host memory)."""
    t = recipe.train
    on_gpu = not gpu.is_cpu
    attn = t.attn_implementation
    if attn == "auto":
        fa2 = on_gpu and dtype != "fp32" and flash_attention_2_runs_on(gpu.compute_capability)
        attn = "flash_attention_2" if fa2 and _installed("flash_attn") else "sdpa"
    liger = t.use_liger
    if liger == "auto":
        liger = on_gpu and _installed("liger_kernel")
    import os

    fsdp = bool(t.fsdp or os.environ.get("FTWIZARD_FSDP") == "1")
    return {"attn": attn, "liger": bool(liger) and on_gpu, "compile": bool(t.torch_compile) and on_gpu, "fsdp": fsdp,
            "offload": bool(t.activation_offloading) and on_gpu}
