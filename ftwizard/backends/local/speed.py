"""The speed keys resolved for this machine, and model FLOPs utilisation (MFU) of a run.

`resolve_speed(recipe, device)` turns train.attn_implementation / use_liger / torch_compile / optimizer into
what the worker passes to transformers, each with the reason, so the log says what was chosen and why.
Two utilisation figures, both tokens/s x FLOPs per trained token / the device's dense peak, with the FLOP counts
of `ftwizard.estimate.flops.flops_per_token` (the estimate's own): `mfu` in the PaLM convention (model FLOPs:
forward 2N + input gradients 2N, no recomputation) and `hfu`, hardware FLOPs utilisation (adds the forward
recomputed under activation checkpointing), ~1.5x the MFU of a checkpointed run.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftwizard.catalog import flash_attention_2_runs_on

if TYPE_CHECKING:
    from ftwizard.catalog import GPU, OpenModel
    from ftwizard.recipe import Recipe


@dataclass
class SpeedChoices:
    attn_implementation: str
    use_liger: bool
    torch_compile: bool
    optimizer: str
    padding_free: bool
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"attention {self.attn_implementation}, Liger {'on' if self.use_liger else 'off'}, "
                f"torch.compile {'on' if self.torch_compile else 'off'}, optimizer {self.optimizer}, "
                f"padding-free packing {'on' if self.padding_free else 'off'}")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def resolve_speed(recipe: "Recipe", device: str, *, dtype_is_16bit: bool, fsdp: bool = False,
                  compute_capability: str | None = None) -> SpeedChoices:
    t = recipe.train
    reasons: list[str] = []
    attn = t.attn_implementation
    if attn == "auto":
        fa2_card = flash_attention_2_runs_on(compute_capability)
        if device == "cuda" and dtype_is_16bit and fa2_card and installed("flash_attn"):
            attn = "flash_attention_2"
            reasons.append("flash_attention_2: CUDA, 16-bit and flash-attn installed")
        else:
            attn = "sdpa"
            if device == "cuda" and not fa2_card:
                reasons.append(f"sdpa: FlashAttention-2 needs compute capability 8.0+, this GPU is {compute_capability}")
            elif device == "cuda" and not installed("flash_attn"):
                reasons.append("sdpa: flash-attn is not installed")
    elif attn == "flash_attention_2" and not installed("flash_attn"):
        from ftwizard.errors import UsageError

        raise UsageError("train.attn_implementation = 'flash_attention_2' needs the flash-attn package "
                         "(pip install flash-attn --no-build-isolation), or set it to 'sdpa' / 'auto'")
    liger = t.use_liger
    if liger == "auto":
        liger = device == "cuda" and installed("liger_kernel")
    elif liger and not installed("liger_kernel"):
        from ftwizard.errors import UsageError

        raise UsageError("train.use_liger = true needs liger-kernel: pip install 'ftwizard[fast]'")
    optimizer = t.optimizer
    if device == "cuda" and optimizer == "adamw_torch" and not fsdp:
        optimizer = "adamw_torch_fused"  # one kernel per parameter group instead of a loop of small ones
        reasons.append("adamw_torch_fused: the fused AdamW on CUDA (same update)")
    return SpeedChoices(attn_implementation=attn, use_liger=bool(liger), torch_compile=t.torch_compile,
                        optimizer=optimizer, padding_free=t.packing, reasons=reasons)


# ---------------------------------------------------------------------------------------
# MFU

@dataclass
class MfuBasis:
    """What an MFU figure divides by: the model's FLOPs per token and the device's peak."""

    model: "OpenModel"
    gradient_checkpointing: bool
    n_lora: int
    peak_flops: float          # FLOP/s of all processes together
    peak_source: str

    def flops(self, seq_len: float) -> dict[str, float]:
        from ftwizard.estimate.flops import flops_per_token

        return flops_per_token(self.model, seq_len, gradient_checkpointing=self.gradient_checkpointing,
                               n_lora=self.n_lora)

    def flops_per_token(self, seq_len: float) -> float:
        """Model FLOPs per token (PaLM convention): what `mfu` counts."""
        return self.flops(seq_len)["model"]

    def mfu(self, tokens_per_s: float, seq_len: float) -> float:
        """Model FLOPs utilisation (PaLM: no recomputation counted)."""
        return tokens_per_s * self.flops(seq_len)["model"] / self.peak_flops

    def hfu(self, tokens_per_s: float, seq_len: float) -> float:
        """Hardware FLOPs utilisation: the recomputation of activation checkpointing counted too."""
        return tokens_per_s * self.flops(seq_len)["hardware"] / self.peak_flops

    def utilisation(self, tokens_per_s: float, seq_len: float) -> dict[str, float]:
        return {"mfu": self.mfu(tokens_per_s, seq_len), "hfu": self.hfu(tokens_per_s, seq_len)}

    def as_dict(self, seq_len: float) -> dict[str, Any]:
        return {"flops_per_token": round(self.flops_per_token(seq_len)),
                "hardware_flops_per_token": round(self.flops(seq_len)["hardware"]),
                "mfu_convention": "PaLM: model FLOPs (forward 2N + input gradients 2N), no recomputation; hfu adds it",
                "peak_tflops": round(self.peak_flops / 1e12, 3),
                "peak_source": self.peak_source, "mean_seq_len": round(seq_len, 1)}


def mfu_basis(model_config: dict, recipe: "Recipe", *, device: str, gpu_name: str, dtype: str, n_lora: int,
              processes: int) -> MfuBasis | None:
    """The basis for this run, or None when the device has no known peak (a GPU missing from the catalog)."""
    from ftwizard.catalog import get_gpu, match_gpu, open_model_from_config
    from ftwizard.errors import UsageError
    from ftwizard.estimate import peak_flops

    try:
        om = open_model_from_config(model_config, id=recipe.model.catalog_id or recipe.model.base,
                                    source="the loaded model's config")
    except UsageError:
        return None
    gpu: GPU | None = get_gpu("cpu") if device == "cpu" else match_gpu(gpu_name)
    if gpu is None:
        return None
    if gpu.is_cpu:
        source = (f"catalog 'cpu': {gpu.bf16_tflops} TFLOPS, a measured throughput on 2 cores (not a hardware "
                  "peak), so CPU MFU reads as a fraction of that machine's speed")
    else:
        source = f"catalog {gpu.name}: {gpu.bf16_tflops} dense bf16 TFLOPS ({dtype})"
    return MfuBasis(model=om, gradient_checkpointing=recipe.gradient_checkpointing_on(), n_lora=n_lora,
                    peak_flops=peak_flops(gpu, dtype) * max(1, processes), peak_source=source)
