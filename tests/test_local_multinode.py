"""Past one machine: `ftwizard run --nnodes N --node-rank K --rdzv-endpoint HOST:PORT` (or [hardware]) starts
torchrun's static rendezvous; under SLURM the world comes from SLURM's variables. Two "nodes" on this machine
(two launches, one process each, rendezvous on 127.0.0.1) end in the adapter of one node with two processes,
and only rank 0 of node 0 writes the run directory."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from ftwizard.backends.local import worker_command
from ftwizard.backends.local.topology import Topology, topology
from ftwizard.errors import UsageError
from ftwizard.recipe import parse_recipe
from tests.test_local_train import losses_by_step, metrics, new_run, recipe_toml, wait_for, worker_env

STEPS = 6


def _recipe(**hw):
    text = 'name = "m"\ntask = "viggo"\n[hardware]\n' + "".join(f"{k} = {json.dumps(v)}\n" for k, v in hw.items())
    return parse_recipe(text)


def test_topology_from_the_command_line_and_from_slurm():
    assert topology(_recipe(), environ={}) == Topology()
    t = topology(_recipe(nnodes=2, node_rank=1, rdzv_endpoint="10.0.0.5:29400"), environ={})
    assert t.torchrun_flags() == ["--nnodes=2", "--node-rank=1", "--rdzv-backend=static",
                                  "--rdzv-endpoint=10.0.0.5:29400"]
    assert topology(_recipe(nnodes=2, rdzv_endpoint="node0"), environ={}).endpoint == "node0:29500"
    slurm = {"SLURM_JOB_ID": "77", "SLURM_NNODES": "4", "SLURM_NODEID": "3", "SLURM_JOB_NODELIST": "gpu[03-06]"}
    assert topology(_recipe(), environ=slurm) == Topology(4, 3, "gpu03:29500", "SLURM")
    assert topology(_recipe(), environ={**slurm, "MASTER_ADDR": "10.1.1.1", "MASTER_PORT": "6000"}).endpoint == \
        "10.1.1.1:6000"
    assert topology(_recipe(), environ={"SLURM_NNODES": "1", "SLURM_NODEID": "0"}) == Topology()
    with pytest.raises(UsageError, match="node_rank 2 is not below nnodes 2"):
        _recipe(nnodes=2, node_rank=2, rdzv_endpoint="h:1")
    with pytest.raises(UsageError, match="needs node 0's HOST:PORT"):
        _recipe(nnodes=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ftwizard(*args, timeout=420) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftwizard", "run", *args], env=worker_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_two_nodes_on_this_machine_end_in_the_adapter_of_one_node_with_two_processes(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    # one node, two processes (data parallel under torchrun --standalone)
    one = new_run(tmp_path / "one", tiny_model_dir, max_steps=STEPS, save_every=3, micro_batch_size=2)
    p = subprocess.run(worker_command(one, 2), env=worker_env(), capture_output=True, text=True, timeout=420)
    assert p.returncode == 0, p.stderr[-3000:]

    # two "nodes", one process each: node 0 creates the run and starts in the background, node 1 joins it
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(recipe_toml(tiny_model_dir, max_steps=STEPS, save_every=3, micro_batch_size=2))
    endpoint = f"127.0.0.1:{_free_port()}"
    node0 = _ftwizard(str(recipe), "--runs-dir", str(tmp_path / "runs"), "--nnodes", "2", "--node-rank", "0",
                      "--rdzv-endpoint", endpoint, "--detach")
    assert node0.returncode == 0, node0.stderr
    run_path = re.search(r"run directory: (\S+)", node0.stderr).group(1)
    from ftwizard.runs.directory import RunDirectory

    run = RunDirectory.open(run_path)
    before = sorted(p.name for p in run.path.iterdir())
    node1 = _ftwizard(run_path, "--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", endpoint)
    assert node1.returncode == 0, node1.stderr[-3000:]
    assert f"joining {run.path} as node 1 of 2" in node1.stderr
    wait_for(lambda: run.state in ("succeeded", "failed"), timeout=120, every=0.2)
    assert run.state == "succeeded", (run.path / "worker.log").read_text()[-3000:]

    # node 0 launched torchrun's static rendezvous; node 1 wrote nothing of the run's own files
    st = run.status()
    assert st["nnodes"] == 2 and st["world_size"] == 2
    assert "--nnodes=2 --node-rank=0 --rdzv-backend=static" in st["command"]
    log = (run.path / "worker.log").read_text()
    assert log.count("\n--- ") == 1 and "--node-rank=1" not in log
    assert set(before) <= {p.name for p in run.path.iterdir()}
    assert [m["step"] for m in metrics(run)] == list(range(1, STEPS + 1)), "one event stream, from rank 0"
    assert sum(1 for e in run.events(("status",)) if e["state"] == "succeeded") == 1

    # the same training as one node with two processes
    a, b = losses_by_step(one), losses_by_step(run)
    for step in range(1, STEPS + 1):
        assert b[step] == pytest.approx(a[step], abs=1e-6), (step, a[step], b[step])
    x = load_file(one.adapter_dir / "adapter_model.safetensors")
    y = load_file(run.adapter_dir / "adapter_model.safetensors")
    assert sorted(x) == sorted(y) and max((x[k] - y[k]).abs().max().item() for k in x) <= 1e-6
