"""Where this machine sits in a local run that spans several (light: no torch): the number of nodes, this node's
rank and the rendezvous endpoint, from `ftwizard run --nnodes/--node-rank/--rdzv-endpoint` or `[hardware]`, or
else from SLURM's variables, and the torchrun flags that say so.

The rendezvous is torchrun's static one: global rank = node rank x processes per node + local rank, so rank 0 -
the only process that writes the run directory - is always on node 0, the node that created the run."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from ftwizard.errors import UsageError

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

DEFAULT_PORT = 29500  # torchrun's own default master port


@dataclass(frozen=True)
class Topology:
    nnodes: int = 1
    node_rank: int = 0
    endpoint: str = ""   # HOST:PORT of node 0
    source: str = "single machine"

    @property
    def multi_node(self) -> bool:
        return self.nnodes > 1

    def torchrun_flags(self) -> list[str]:
        if not self.multi_node:
            return ["--standalone"]
        return [f"--nnodes={self.nnodes}", f"--node-rank={self.node_rank}", "--rdzv-backend=static",
                f"--rdzv-endpoint={self.endpoint}"]


def _first_slurm_host(nodelist: str) -> str:
    """The first host of a SLURM node list ("gpu[03-04,07],cpu1" -> "gpu03"); `scontrol` when it is there."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                             timeout=10)
        if out.returncode == 0 and out.stdout.split():
            return out.stdout.split()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    first = re.match(r"([^,\[]+)(?:\[([^\],]+))?", nodelist.strip())
    if not first:
        raise UsageError(f"SLURM_JOB_NODELIST = {nodelist!r}: no host name in it")
    host, ranges = first.group(1), first.group(2)
    return host + (ranges.split("-")[0] if ranges else "")


def topology(recipe: "Recipe", environ: Mapping[str, str] | None = None) -> Topology:
    """The recipe's own topology (hardware.nnodes > 1), else SLURM's (SLURM_NNODES > 1), else one machine."""
    env = os.environ if environ is None else environ
    hw = recipe.hardware
    if hw.nnodes > 1:
        if not hw.rdzv_endpoint:
            raise UsageError("hardware.nnodes > 1 needs the rendezvous endpoint of node 0: --rdzv-endpoint HOST:PORT "
                             "(or hardware.rdzv_endpoint)")
        return Topology(hw.nnodes, hw.node_rank, _with_port(hw.rdzv_endpoint), "recipe / command line")
    nnodes = int(env.get("SLURM_NNODES") or env.get("SLURM_JOB_NUM_NODES") or 1)
    if nnodes > 1:
        host = env.get("MASTER_ADDR") or _first_slurm_host(env.get("SLURM_JOB_NODELIST") or
                                                          env.get("SLURM_NODELIST") or "")
        port = env.get("MASTER_PORT") or str(DEFAULT_PORT)
        return Topology(nnodes, int(env.get("SLURM_NODEID") or 0), f"{host}:{port}", "SLURM")
    return Topology()


def _with_port(endpoint: str) -> str:
    host, _, port = endpoint.rpartition(":")
    if not host:
        return f"{endpoint}:{DEFAULT_PORT}"
    if not port.isdigit():
        raise UsageError(f"rendezvous endpoint {endpoint!r}: the port after ':' must be a number")
    return endpoint
