"""Which process this is under torchrun (rank, world, node) and the collectives the stages share; light (no torch
until a barrier is needed). One process without torchrun is rank 0 of a world of 1."""

from __future__ import annotations

import os
import sys


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def is_main() -> bool:
    """Rank 0 of the whole job (node 0's first process): the only writer of the run directory."""
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()


def shut_down() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def die_with_launcher() -> None:
    """Under torchrun: end this worker when torchrun itself dies. torchrun starts each worker in a session of its
    own, so a SIGKILL of the launcher's process group (the OOM killer, `kill -9`) would leave the workers training
    on as orphans that nobody follows, and a resume would then run beside them. Linux only (prctl)."""
    if "TORCHELASTIC_RUN_ID" not in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() == 1:  # the launcher was already gone before the line above
        os._exit(1)
