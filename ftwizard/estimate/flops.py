"""FLOPs counting, the one count read by the estimate, the serving model and the trainer's MFU meter: per trained
token, per evaluated token, and the card's dense peak."""

from __future__ import annotations

from ftwizard.catalog import GPU, OpenModel


def flops_per_token(model: OpenModel, seq_len: float, *, gradient_checkpointing: bool, n_lora: int = 0,
                    attn: str = "sdpa") -> dict:
    """FLOPs per trained token: `model` (PaLM convention: no recomputation) and `hardware` (what runs).

    Model FLOPs: forward 2N, input gradients 2N over the block linears and the lm_head, 6 per adapter parameter,
    attention 12 x layers x q_dim x seq (PaLM's count: the full square, forward + backward). Hardware FLOPs add the
    forward again over the blocks (and their attention) when checkpointing; FlashAttention-2 / SDPA skip the
    masked half of the square and recompute it in backward (2 + 5 units of 2 x q_dim x seq), eager does not skip.
    """
    n_blocks = model.active_linear_params
    n_head = model.vocab * model.hidden
    qd = model.heads * model.dim_head
    attn_unit = 2 * model.layers * qd * seq_len
    mf = 4 * (n_blocks + n_head) + 6 * n_lora + 6 * attn_unit
    if attn == "eager":
        hw_attn = attn_unit * (2 + 4) * (1 + (1 / 3 if gradient_checkpointing else 0))
    else:
        hw_attn = attn_unit * (1 + 2.5 + (1 if gradient_checkpointing else 0))
    gc = 1 if gradient_checkpointing else 0
    hf = (4 + 2 * gc) * n_blocks + 4 * n_head + (6 + 2 * gc) * n_lora + hw_attn
    return {"model": float(mf), "hardware": float(hf)}


def train_flops_per_token(model: OpenModel, seq_len: float, *, gradient_checkpointing: bool,
                          n_lora: int = 0) -> float:
    """Hardware FLOPs per trained token (recomputation included): `flops_per_token`'s, the one count."""
    return flops_per_token(model, seq_len, gradient_checkpointing=gradient_checkpointing, n_lora=n_lora)["hardware"]


def eval_flops_per_token(model: OpenModel, seq_len: float) -> float:
    return 2 * model.active_matmul_params + 2 * model.layers * model.heads * model.dim_head * seq_len


def peak_flops(gpu: GPU, dtype: str) -> float:
    """Dense peak in FLOP/s for the compute dtype (fp32 on a GPU runs at TF32 rate: half the bf16 peak)."""
    tf = gpu.bf16_tflops * 1e12
    if dtype == "fp32" and not gpu.is_cpu:
        tf /= 2
    return tf


def power_cap(gpu: GPU, efficiency: float) -> float:
    """The share of its datasheet clock a card holds under continuous tensor work: 1, unless a sustained GEMM rate
    is published for it below what the datasheet peak at `efficiency` would give (a 70 W T4 measures ~24 TFLOPS
    on large fp16 GEMMs against its 65 TFLOPS at the boost clock). The same share applies in every dtype."""
    if not gpu.sustained_tflops or gpu.is_cpu:
        return 1.0
    return min(1.0, gpu.sustained_tflops / (gpu.bf16_tflops * efficiency))
