"""FSDP2 driven by ftwizard: `fully_shard` on each decoder layer and then on the root, on CUDA (nccl) and on the
CPU (gloo) alike, and the sharded state in and out of a checkpoint (a full adapter state dict and a full
optimizer state dict, gathered to rank 0 and broadcast back from it on resume).

Why not the Trainer's own FSDP: accelerate turns its FSDP plugin on only for accelerator devices, so on a CPU
the processes silently trained data-parallel, each holding the whole model. Sharding here is the same call on
every device, and the summary records whether the parameters really are DTensors."""

from __future__ import annotations

import os
from typing import Any

from ftwizard.backends.local.world import is_main, world_size

OPTIMIZER_NAME = "optimizer.pt"   # the Trainer's file names, so a checkpoint looks the same sharded or not
SCHEDULER_NAME = "scheduler.pt"


def init_process_group(device: str) -> str:
    """The process group FSDP2 needs before the Trainer exists (accelerate later finds it initialised)."""
    import torch.distributed as dist

    backend = "nccl" if device == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return dist.get_backend()


def decoder_layers(model) -> list:
    """The units to shard: modules of the classes the model says must not be split (its decoder layers)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or [])
    if not names:
        raise RuntimeError(f"{type(base).__name__} names no decoder layer class (_no_split_modules): FSDP cannot "
                           "tell where to cut it into units")
    return [m for m in model.modules() if type(m).__name__ in names]


def shard(model, *, device: str, compute_dtype) -> dict[str, Any]:
    """fully_shard every decoder layer, then the root (embeddings, final norm, lm_head). With a 16-bit compute
    dtype the all-gathered parameters are cast to it and gradients reduced in fp32 (FSDP2's MixedPrecisionPolicy);
    in fp32 nothing is cast. Returns what was done, for the log and the summary."""
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    backend = init_process_group(device)
    mesh = init_device_mesh(device, (world_size(),))
    if compute_dtype in (torch.bfloat16, torch.float16):
        mp = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32)
    else:
        mp = MixedPrecisionPolicy()
    layers = decoder_layers(model)
    layer_class = type(layers[0]).__name__ if layers else None  # before fully_shard renames it FSDP<class>
    for layer in layers:
        fully_shard(layer, mesh=mesh, mp_policy=mp, reshard_after_forward=True)
    fully_shard(model, mesh=mesh, mp_policy=mp, reshard_after_forward=True)
    return {"units": len(layers) + 1, "layer_class": layer_class,
            "backend": backend, "processes": world_size()}


def is_sharded(model) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def dtensor_fraction(model) -> float:
    """The share of parameters that are DTensors (1.0 when FSDP really sharded every one)."""
    from torch.distributed.tensor import DTensor

    params = list(model.parameters())
    return sum(isinstance(p, DTensor) for p in params) / max(1, len(params))


def _options(**kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def adapter_state_dict(model) -> dict:
    """The tensors peft saves for this adapter (LoRA weights, and a targeted lm_head's base weight when peft
    keeps it), gathered whole onto rank 0's CPU one parameter at a time - never the whole model (collective:
    every rank calls it; the others get an empty dict). Keys are the model's own parameter names."""
    from peft import get_peft_model_state_dict
    from torch.distributed.tensor import DTensor

    params = dict(model.named_parameters())
    wanted = get_peft_model_state_dict(model, state_dict={n: n for n in params})  # {peft key: parameter name}
    out: dict = {}
    for name in sorted(set(wanted.values())):  # the same order on every rank: each gather is a collective
        p = params[name]
        full = p.full_tensor() if isinstance(p, DTensor) else p
        if is_main():
            out[name] = full.detach().to("cpu", copy=True)
    return out


def save_adapter(model, output_dir: str, state_dict: dict) -> None:
    """Rank 0 writes the gathered adapter as peft writes any adapter (adapter_config.json + safetensors)."""
    model.save_pretrained(output_dir, state_dict=state_dict)


def load_adapter(model, checkpoint_dir: str) -> None:
    """Put a saved adapter back into the sharded model: rank 0 reads it and maps peft's names to the model's
    parameter names; the full tensors are broadcast and each rank keeps its shard (collective)."""
    from peft import get_peft_model_state_dict
    from peft.utils import load_peft_weights
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    full: dict = {}
    if is_main():
        saved = load_peft_weights(checkpoint_dir, device="cpu")
        names = {n: n for n, p in model.named_parameters() if p.requires_grad}
        by_peft_key = get_peft_model_state_dict(model, state_dict=names)  # {peft key: model parameter name}
        missing = sorted(set(by_peft_key) - set(saved))
        if missing:
            raise RuntimeError(f"checkpoint {checkpoint_dir} lacks adapter weights: {', '.join(missing[:4])}")
        full = {fqn: saved[key] for key, fqn in by_peft_key.items()}
    set_model_state_dict(model, full, options=_options(broadcast_from_rank0=True, strict=False))


def save_optimizer(model, optimizer, scheduler, output_dir: str) -> None:
    """The optimizer's state gathered whole to rank 0 (collective) and written with the scheduler's."""
    import torch
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    osd = get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))
    if is_main():
        torch.save(osd, os.path.join(output_dir, OPTIMIZER_NAME))
        torch.save(scheduler.state_dict(), os.path.join(output_dir, SCHEDULER_NAME))


def load_optimizer(model, optimizer, scheduler, checkpoint_dir: str) -> None:
    """The optimizer's state read by rank 0 and broadcast, each rank keeping its shard (collective)."""
    import torch
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    osd = torch.load(os.path.join(checkpoint_dir, OPTIMIZER_NAME), map_location="cpu", weights_only=True) \
        if is_main() else {}
    set_optimizer_state_dict(model, optimizer, osd, options=_options(broadcast_from_rank0=True))
    scheduler.load_state_dict(torch.load(os.path.join(checkpoint_dir, SCHEDULER_NAME), weights_only=True))
