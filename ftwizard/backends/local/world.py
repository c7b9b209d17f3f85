"""Which process this is under torchrun (rank, world, node) and the collectives the stages share; light (no torch
until a barrier is needed). One process without torchrun is rank 0 of a world of 1."""

from __future__ import annotations

import os


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
