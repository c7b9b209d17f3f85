"""Memory: what the run holds (peak, in the estimate's unit), out-of-memory detection and advice, and the probe.

The probe runs before step 1: one forward/backward on the longest batch the data will produce, one eval-loss
forward of the longest eval-loss batch when the run computes eval loss (the Trainer's own prediction step, in eval
mode: a fused loss such as Liger's materialises the full logits there, so that pass can outgrow training), and,
when the run evaluates, one generation-sized forward of the longest evaluation prompts, so a batch that does not
fit stops the run in its first minute with the OOM advice instead of hours in. On a CUDA GPU the peak is
`torch.cuda.max_memory_reserved()` plus the CUDA context, in GiB: the same scope as the estimator's `vram_gb`.
On the CPU there is no device memory: the resident set size (RSS) is what is reported, and said so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftwizard import settings

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

GIB = 1024**3


# ---------------------------------------------------------------------------------------
# Measuring

def cuda_context_gib() -> float:
    """Device memory in use outside torch's allocator once CUDA is up (context, kernels), in GiB.

    Measured as the device's used memory minus what torch has reserved, right after CUDA starts and before the
    model loads; falls back to the estimator's constant when it cannot be measured."""
    import torch

    from ftwizard.estimate import CUDA_CONTEXT_GIB

    try:
        torch.zeros(1, device="cuda")
        free, total = torch.cuda.mem_get_info()
        used = (total - free - torch.cuda.memory_reserved()) / GIB
    except RuntimeError:
        return CUDA_CONTEXT_GIB
    return used if 0 < used < 8 else CUDA_CONTEXT_GIB


def rss_gib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / GIB


def peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # KiB on Linux


def peak_mem_gib(device: str, context_gib: float = 0.0) -> float:
    """The run's peak so far: reserved device memory + the CUDA context (GPU), or peak RSS (CPU), in GiB."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_reserved() / GIB + context_gib
    return peak_rss_gib()


def device_total_gib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / GIB
    import psutil

    return psutil.virtual_memory().total / GIB


def apply_memory_cap(device: str) -> float | None:
    """FTWIZARD_MEMORY_CAP_GIB: on a GPU, torch's per-process fraction (a real allocator limit). Returns the cap."""
    cap = settings.memory_cap_gib()
    if cap is not None and device == "cuda":
        import torch

        torch.cuda.set_per_process_memory_fraction(min(1.0, cap / device_total_gib("cuda")))
    return cap


# ---------------------------------------------------------------------------------------
# Out of memory

def is_oom(e: BaseException) -> bool:
    import torch

    if isinstance(e, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg
                                            or "not enough memory" in msg)


def oom_advice(recipe: "Recipe", estimate: dict | None, peak_gib: float | None, device: str) -> tuple[str, list[str]]:
    t = recipe.train
    parts = ["out of memory"]
    if device == "cuda":
        parts.append(f"peak in use {peak_gib:.1f} GiB" if peak_gib is not None else "")
        try:
            import torch

            parts.append(f"of {device_total_gib('cuda'):.1f} GiB on {torch.cuda.get_device_name(0)}")
        except (RuntimeError, AssertionError):
            pass
    elif peak_gib is not None:
        parts.append(f"peak resident memory {peak_gib:.1f} GiB")
    est = (estimate or {}).get("vram_gb")
    parts.append(f"(the estimate said {est:.1f} GiB)" if isinstance(est, (int, float)) else "(no estimate was available)")
    advice = []
    if t.micro_batch_size > 1:
        mb = max(1, t.micro_batch_size // 2)
        advice.append(f"halve the micro-batch and double accumulation (same effective batch): "
                      f"--set train.micro_batch_size={mb} --set train.grad_accum={t.grad_accum * t.micro_batch_size // mb}")
    if recipe.model.quant != "4bit":
        advice.append("load the base in 4-bit (QLoRA): --set model.quant=4bit (CUDA, `pip install 'ftwizard[quant]'`)")
    if not recipe.gradient_checkpointing_on():
        advice.append("turn on gradient checkpointing (~30% slower, far less activation memory): "
                      "--set train.gradient_checkpointing=true")
    if device == "cuda" and not t.activation_offloading and recipe.activation_offloading_works():
        advice.append("keep activations in host memory (slower where the PCIe link cannot keep up): "
                      "--set train.activation_offloading=true")
    if t.max_length > 256:
        advice.append(f"shorten sequences: --set train.max_length={t.max_length // 2} (check the truncation count first)")
    # `run --resume` keeps the recorded settings: changed ones are a new run of the same recipe.
    advice.append("then start again with the change: `ftwizard run RUN_DIR/recipe.toml --set ...`")
    return " ".join(p for p in parts if p), advice


class ProbeOutOfMemory(MemoryError):
    """The probe's batch needs more than FTWIZARD_MEMORY_CAP_GIB allows (CPU: the cap is checked, not enforced)."""


# ---------------------------------------------------------------------------------------
# The probe

@dataclass
class ProbeResult:
    measured_gib: float
    delta_gib: float
    total_gib: float
    seconds: float
    train_tokens: int
    eval_tokens: int
    eval_loss_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def longest_batch(examples: list[dict], micro_batch: int) -> list[dict]:
    """The micro-batch of the most tokens the data can produce: the `micro_batch` longest examples together."""
    return sorted(examples, key=lambda ex: -len(ex["input_ids"]))[:micro_batch]


def run_probe(trainer, collator, train_examples: list[dict], *, device: str, context_gib: float,
              eval_prompts_ids: list[list[int]] | None = None, eval_batch_size: int = 1, max_new_tokens: int = 0,
              pad_token_id: int = 0, eval_loss_examples: list[dict] | None = None) -> ProbeResult:
    """One forward/backward of the longest training batch, the eval-loss step of the longest `eval_loss_examples`
    batch (when the run computes eval loss) and one forward of the longest evaluation batch at its full generated
    length (prompt + max_new_tokens, the KV cache's size at the end). RNG state and gradients are restored, so the
    run that follows is the run it would have been."""
    import torch

    t0 = time.perf_counter()
    model = trainer.model
    before = rss_gib() if device == "cpu" else torch.cuda.memory_reserved() / GIB + context_gib
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if device == "cuda" else None
    tokens_before = getattr(collator, "tokens_seen", None)

    def on_device(examples: list[dict], micro_batch: int) -> dict:
        b = collator(longest_batch(examples, micro_batch))
        if tokens_before is not None:
            collator.tokens_seen = tokens_before  # the probe's tokens are not training tokens
        return {k: v.to(trainer.args.device) if hasattr(v, "to") else v for k, v in b.items()}

    batch = on_device(train_examples, trainer.args.per_device_train_batch_size)
    train_tokens = int(batch["input_ids"].numel())
    was_training = model.training
    model.train()
    peak_cpu = before
    try:
        with trainer.compute_loss_context_manager():
            loss = trainer.compute_loss(model, batch)
        loss.backward()
        if device == "cpu":
            peak_cpu = max(peak_cpu, rss_gib())
        model.zero_grad(set_to_none=True)
        del loss, batch
        eval_loss_tokens = 0
        if eval_loss_examples:
            # the run's eval-loss step exactly as evaluate() takes it: eval mode, the Trainer's prediction step
            batch = on_device(eval_loss_examples, trainer.args.per_device_eval_batch_size)
            eval_loss_tokens = int(batch["input_ids"].numel())
            model.eval()
            trainer.prediction_step(model, batch, prediction_loss_only=True)
            if device == "cpu":
                peak_cpu = max(peak_cpu, rss_gib())
            del batch
        eval_tokens = 0
        if eval_prompts_ids:
            longest = sorted(eval_prompts_ids, key=len, reverse=True)[:eval_batch_size]
            n = max(len(p) for p in longest) + max_new_tokens
            ids = torch.full((len(longest), n), pad_token_id, dtype=torch.long, device=trainer.args.device)
            for i, p in enumerate(longest):
                ids[i, : len(p)] = torch.tensor(p[:n], dtype=torch.long)
            eval_tokens = int(ids.numel())
            model.eval()
            with torch.inference_mode():
                model(input_ids=ids, use_cache=True, logits_to_keep=1)
            if device == "cpu":
                peak_cpu = max(peak_cpu, rss_gib())
            del ids
    finally:
        model.train(was_training)
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
    measured = peak_mem_gib(device, context_gib) if device == "cuda" else peak_cpu
    result = ProbeResult(measured_gib=measured, delta_gib=max(0.0, measured - before), total_gib=device_total_gib(device),
                         seconds=time.perf_counter() - t0, train_tokens=train_tokens, eval_tokens=eval_tokens,
                         eval_loss_tokens=eval_loss_tokens)
    cap = settings.memory_cap_gib()
    if cap is not None and device == "cpu" and measured > cap:
        raise ProbeOutOfMemory(f"not enough memory: the memory probe needs {measured:.2f} GiB resident, "
                               f"FTWIZARD_MEMORY_CAP_GIB allows {cap:g} GiB")
    return result


def probe_line(result: ProbeResult, estimate_gib: float | None, device: str) -> str:
    est = f"{estimate_gib:.1f} GiB estimated" if isinstance(estimate_gib, (int, float)) else "no estimate"
    if device == "cuda":
        return (f"memory probe: {result.measured_gib:.1f} GiB measured, {est}, {result.total_gib:.0f} GiB on the GPU "
                f"(longest batch: {result.train_tokens:,} tokens; eval-loss batch: {result.eval_loss_tokens:,}; "
                f"eval batch: {result.eval_tokens:,}; "
                f"{result.seconds:.1f} s)")
    return (f"memory probe: {result.measured_gib:.2f} GiB resident measured (+{result.delta_gib:.2f} GiB for the "
            f"longest batch of {result.train_tokens:,} tokens, an eval-loss batch of {result.eval_loss_tokens:,} and "
            f"an eval batch of {result.eval_tokens:,}), {est}, "
            f"{result.total_gib:.0f} GiB of RAM - CPU: no GPU memory to measure ({result.seconds:.1f} s)")
