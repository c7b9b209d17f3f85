"""Activation offloading (train.activation_offloading): what autograd saves for backward inside the decoder stack
goes to host memory in the forward and comes back in the backward, one saved tensor at a time.

A saved-tensors hook pair, as torchtune's OffloadActivations: weights are never copied (a frozen base weight, or a
view of it, is saved by every matmul for its input gradient; copying it would move the whole model over PCIe each
step and free nothing), nor tensors under `min_bytes`. Unlike torch's save_on_cpu it leaves the lm_head and the loss
alone: the hooks are pushed when the decoder stack's forward starts and popped when it returns, because the loss's
saved tensors are the first the backward needs, so moving them saves nothing at the peak and costs the largest
transfer of the step.

On CUDA the copies run on a side stream, from / into pinned host memory, so they overlap the compute stream's
kernels (torchtune's use_streams; docs/estimates.md prices only the part the compute cannot hide). Ordering: the
side stream waits for the compute stream before copying an activation out, and the activation is recorded on the
side stream, so the allocator does not hand its memory to a later kernel before the copy is done; coming back, the
compute stream waits for the side stream, and the copy is recorded on the compute stream for the same reason.

With gradient checkpointing (non-reentrant, as modeling.load_for_training sets it) a checkpointed layer's own
hooks are innermost, so nothing the layer saves reaches these hooks; its input is saved by torch's checkpoint
through the outer hooks, so each layer's input is what goes to the host. The reentrant variant saves its inputs
with save_for_backward too, so it offloads the same tensors. Under torch.compile (the whole model) the hooks
offload the same bytes with checkpointing; without it the compiled graph saves its tensors past them and nothing
is offloaded (measured with torch 2.13), so the recipe refuses that pair. Under FSDP2 (sharding.shard) the
parameters are DTensor shards and each layer computes with gathered plain Parameters, skipped as weights: the same
activations move, with the same losses (one gloo process on the CPU, tests/test_offload.py).

Imported by the worker process only (torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.multiprocessing.reductions import StorageWeakRef

MIN_BYTES = 1024  # torchtune's default: smaller tensors cost more in launch overhead than they free


@dataclass
class OffloadCounts:
    """What one forward sent to the host: the figure the estimator's `offloaded_gb` predicts."""

    tensors: int = 0
    nbytes: int = 0
    kept: int = 0          # saved tensors left on the device (weights, small ones)
    by_shape: dict = field(default_factory=dict)


class ActivationOffload:
    """Saved-tensors hooks that move activations of `source` (a device type) to host memory and back.

    `source` is "cuda" in a run; a test can name "cpu" to run the same packing on a CPU-only machine (the host
    copy is then a second CPU tensor)."""

    def __init__(self, model=None, *, source: str = "cuda", pin_memory: bool | None = None,
                 min_bytes: int = MIN_BYTES):
        self.source = source
        self.pin_memory = (torch.cuda.is_available() if pin_memory is None else pin_memory) and source == "cuda"
        self.min_bytes = min_bytes
        self.model = model
        self.stream = torch.cuda.Stream() if source == "cuda" and torch.cuda.is_available() else None
        self.weights: set[int] = set()
        self.last = OffloadCounts()      # the latest forward
        self.total = OffloadCounts()     # the whole run
        self._ctx = None
        self._copies: dict[tuple, tuple] = {}  # this forward's host copies, by what they are a copy of

    # -- the hooks ---------------------------------------------------------------------------------------------
    def _is_weight(self, t: torch.Tensor) -> bool:
        if isinstance(t, torch.nn.Parameter) or isinstance(t._base, torch.nn.Parameter):
            return True
        return t.untyped_storage().data_ptr() in self.weights

    def pack(self, t: torch.Tensor):
        nbytes = t.numel() * t.element_size()
        if t.device.type != self.source or nbytes < self.min_bytes or self._is_weight(t):
            self.last.kept += 1
            return t
        # A tensor two ops save (RMSNorm's fp32 input: pow and mul) crosses once. Same storage, place and version
        # while that storage is still alive: an address freed and reused by a new tensor never matches.
        storage = t.untyped_storage()
        key = (storage.data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype, t._version)
        seen = self._copies.get(key)
        if seen is not None and not seen[0].expired():
            return (t.device, seen[1])
        host = torch.empty_like(t, device="cpu", pin_memory=self.pin_memory)
        if self.stream is None:
            host.copy_(t)
        else:
            self.stream.wait_stream(torch.cuda.current_stream(t.device))
            with torch.cuda.stream(self.stream):
                host.copy_(t, non_blocking=True)
            t.record_stream(self.stream)
        self._copies[key] = (StorageWeakRef(storage), host)
        for c in (self.last, self.total):
            c.tensors += 1
            c.nbytes += nbytes
        key = (tuple(t.shape), str(t.dtype).removeprefix("torch."))
        self.last.by_shape[key] = self.last.by_shape.get(key, 0) + 1
        return (t.device, host)

    def unpack(self, packed):
        if not isinstance(packed, tuple):
            return packed
        device, host = packed
        if self.stream is None:
            return host.to(device)
        compute = torch.cuda.current_stream(device)
        with torch.cuda.stream(self.stream):
            back = host.to(device, non_blocking=True)
        compute.wait_stream(self.stream)
        back.record_stream(compute)
        return back

    # -- around a forward ----------------------------------------------------------------------------------------
    def __enter__(self):
        if self.model is not None:
            # FSDP2 gathers unsharded weights per layer; a storage seen at entry is a weight, others by type
            self.weights = {_storage_ptr(p) for p in self.model.parameters()}
        self.last = OffloadCounts()
        self._copies = {}
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.__exit__(*exc)
        self._copies = {}  # the saved variables hold their host copies from here
        return False


def _storage_ptr(p: torch.Tensor) -> int:
    """Where a parameter's data lives; an FSDP2 shard is a DTensor, whose own storage cannot be read: its local
    shard's (the unsharded weight a layer computes with is a plain Parameter, recognised by type)."""
    local = getattr(p, "_local_tensor", None)
    return (p if local is None else local).untyped_storage().data_ptr()


def decoder_stack(model):
    """The module that runs the decoder layers and the final norm, without the lm_head and the loss: transformers'
    `base_model` of the causal LM under peft's wrappers (LlamaModel, Qwen2Model, ...)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    stack = getattr(inner, "base_model", None)
    if stack is None or stack is inner:
        raise RuntimeError(f"train.activation_offloading: cannot find the decoder stack of {type(inner).__name__} "
                           "(transformers' base_model)")
    return stack


def install(model, *, source: str = "cuda", min_bytes: int = MIN_BYTES) -> ActivationOffload:
    """Offload what the decoder stack saves, in every training forward of `model` from now on."""
    off = ActivationOffload(model, source=source, min_bytes=min_bytes)
    stack = decoder_stack(model)

    def enter(_module, _args):
        if torch.is_grad_enabled():  # evaluation forwards save nothing
            off.__enter__()

    def leave(_module, _args, _out):
        if off._ctx is not None:
            off.__exit__(None, None, None)

    stack.register_forward_pre_hook(enter)
    stack.register_forward_hook(leave, always_call=True)
    return off
