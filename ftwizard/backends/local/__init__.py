"""The local backend (light: no torch): `LocalBackend` checks a recipe, launches the worker, resumes, cancels.

The worker (`python -m ftwizard.workers.local RUN_DIR`, or under torchrun for several processes) runs
in a new session with its output in RUN_DIR/worker.log, so closing the terminal or losing SSH never stops it.

Several machines (torchrun's static rendezvous; node 0 creates and writes the run, the others only train):

    ftwizard run recipes/x.toml --nproc 8 --nnodes 2 --node-rank 0 --rdzv-endpoint node0:29500   # on node 0
    ftwizard run RUN_DIR --nproc 8 --nnodes 2 --node-rank 1 --rdzv-endpoint node0:29500         # on node 1

with RUN_DIR on a shared filesystem. Under SLURM the nodes, this node's rank and node 0's address come from
SLURM_NNODES / SLURM_NODEID / SLURM_JOB_NODELIST (MASTER_ADDR / MASTER_PORT when set).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from importlib.util import find_spec
from typing import TYPE_CHECKING

from ftwizard import settings
from ftwizard.backends.base import Backend
from ftwizard.backends.local.checkpoints import last_checkpoint
from ftwizard.backends.local.topology import Topology, topology
from ftwizard.errors import UsageError
from ftwizard.runs.directory import FINAL_STATES, RunDirectory

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

WORKER_MODULE = "ftwizard.workers.local"  # the entry point above evaluation (ftwizard/workers)


def worker_command(run: RunDirectory, nproc: int, topo: "Topology | None" = None) -> list[str]:
    """The worker alone (one process on one machine), or torchrun with this machine's place in the run."""
    extra_s = settings.torchrun_args()
    topo = topo or Topology()
    if nproc <= 1 and not extra_s and not topo.multi_node:
        return [sys.executable, "-m", WORKER_MODULE, str(run.path)]
    extra = shlex.split(extra_s)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if topo.multi_node or not any(a.startswith(("--rdzv", "--nnodes", "--master")) for a in extra):
        cmd += topo.torchrun_flags()
    return cmd + extra + ["-m", WORKER_MODULE, str(run.path)]


def _worker_env(recipe: "Recipe") -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONUNBUFFERED"] = "1"
    if recipe.hardware.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def _gpu_count_light() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver, no library: no GPU
        return 0


class LocalBackend(Backend):
    """LoRA with transformers + peft in a worker process of its own (or several under torchrun)."""

    name = "local"

    def generator(self, run: RunDirectory, *, baseline: bool = False, home: bool = False, **engine):
        """The run's model on this machine (a local run's adapter is always at home: `home` changes nothing)."""
        from ftwizard.backends.local.generator import LocalGenerator

        return LocalGenerator(run, baseline=baseline, **engine)

    def preflight(self, recipe: "Recipe") -> None:
        """Everything that can be checked before a run directory exists or a model is loaded."""
        from ftwizard.backends.local.modeling import check_model_available, cuda_visible_light, fsdp_enabled

        problems: list[str] = []
        quant = recipe.model.quant
        has_cuda = None
        if recipe.hardware.device == "cuda" or recipe.hardware.nproc > 1:
            has_cuda = recipe.hardware.device != "cpu" and cuda_visible_light()
        if quant != "none":
            from ftwizard.backends.local.modeling import check_bitsandbytes

            try:
                check_bitsandbytes(quant)
            except UsageError as e:
                problems.extend(e.problems)
            if quant == "8bit" and fsdp_enabled(recipe) and not recipe.train.fsdp:
                # The recipe's own train.fsdp is refused by the schema; the environment's switch is checked here.
                problems.append("FTWIZARD_FSDP is set but FSDP cannot shard an 8-bit base (int8 weights with "
                                "per-row scales); unset it (several processes then train data-parallel) or use "
                                "model.quant = '4bit' (QLoRA under FSDP)")
        if recipe.hardware.device == "cuda" and not has_cuda:
            problems.append("hardware.device = 'cuda' but no CUDA GPU is visible here")
        if recipe.hardware.nproc > 1 and has_cuda:
            n = _gpu_count_light()
            if n and recipe.hardware.nproc > n:
                problems.append(f"--nproc {recipe.hardware.nproc} but only {n} GPU(s) are visible here")
        for module, key, extra in (("liger_kernel", "train.use_liger", "fast"), ("flash_attn", "train.attn_implementation", "")):
            wanted = recipe.train.use_liger is True if module == "liger_kernel" else \
                recipe.train.attn_implementation == "flash_attention_2"
            if wanted and find_spec(module) is None:
                problems.append(f"{key} asks for {module.replace('_', '-')}, which is not installed: "
                                + (f"pip install 'ftwizard[{extra}]'" if extra else "pip install flash-attn --no-build-isolation"))
        try:
            check_model_available(recipe)
        except UsageError as e:
            problems.extend(e.problems)
        try:
            from ftwizard.backends.local.data import load_rows

            load_rows(recipe)
        except UsageError as e:
            problems.extend(e.problems if not e.source else [f"{e.source}: {p}" for p in e.problems])
        else:
            from ftwizard.chatmask import unlearnable_rows

            # Chat rows on the model's own template (read from its files): a run none of whose rows can be
            # trained stops here, with the rows and the reasons (some rows: a warning, `preflight_warnings`).
            checked = unlearnable_rows(recipe)
            if checked and checked[1] == checked[0]:
                problems.append("no training example has anything to learn on the model's chat template:")
                problems.extend(checked[2])
        if problems:
            raise UsageError(problems)

    def launch(self, run: RunDirectory, recipe: "Recipe") -> subprocess.Popen:
        """Start the worker in its own session (output in RUN_DIR/worker.log) and record it in status.json.
        Returns at once; following the run is the caller's job."""
        topo = topology(recipe)
        if topo.node_rank != 0:
            raise UsageError(f"this machine is node {topo.node_rank} ({topo.source}): only node 0 creates and "
                             "writes a run; join it with `ftwizard run RUN_DIR --nnodes N --node-rank K "
                             "--rdzv-endpoint HOST:PORT`")
        cmd = worker_command(run, recipe.hardware.nproc, topo)
        env = _worker_env(recipe)
        from ftwizard.runs import liveness

        logf = open(run.path / "worker.log", "ab")
        try:
            logf.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(cmd)}\n".encode())
            logf.flush()
            proc = liveness.spawn(run, cmd, log=logf, env=env)
        finally:
            logf.close()
        run.update_status(backend="local", host=socket.gethostname(), command=shlex.join(cmd),
                          nproc=recipe.hardware.nproc, nnodes=topo.nnodes)
        return proc

    def join(self, run: RunDirectory, recipe: "Recipe") -> int:
        """Node K > 0 of a multi-node run: this machine's torchrun in the foreground, its ranks joining node 0's
        rendezvous. It writes nothing to the run (status, events, lock and adapter are rank 0's, on node 0);
        its output goes to this terminal (or SLURM's output file). Returns torchrun's exit status."""
        topo = topology(recipe)
        if not topo.multi_node or topo.node_rank == 0:
            raise UsageError("joining a run is for node 1 and above: --nnodes N (> 1) --node-rank K (> 0) "
                             "--rdzv-endpoint HOST:PORT, or a SLURM allocation of several nodes")
        cmd = worker_command(run, recipe.hardware.nproc, topo)
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, env=_worker_env(recipe)).returncode

    def ended_refusal(self, run: RunDirectory, state: str, why: str, status: dict) -> str | None:
        """A failed or cancelled local run continues from its last complete checkpoint, and only if it has one."""
        if last_checkpoint(run.checkpoints_dir) is not None:
            return None
        return (f"{run.path} {state}{why} before its first complete checkpoint, so there is nothing to continue "
                f"from. Start a new run: `ftwizard run {run.recipe_path}`")

    def resume(self, run: RunDirectory) -> subprocess.Popen:
        """Continue from the last complete checkpoint (the worker finds it), with optimizer and scheduler state."""
        from ftwizard.runs import liveness

        refusal = self.resume_refusal(run)
        if refusal:
            raise UsageError(refusal)
        if not self._here(run) and self.is_alive(run):
            raise UsageError(f"{run.path} is still running on {run.status().get('host')} (its status was updated "
                             "in the last 10 minutes); follow it there")
        # The run's lock from here to the worker's end: a second resume (or a live worker) is refused before
        # anything is changed.
        with liveness.claim(run):
            state = run.status().get("state", "pending")
            recipe = run.recipe()
            self.preflight(recipe)
            last = last_checkpoint(run.checkpoints_dir)
            run.log(f"resume requested ({state}); " + (f"last complete checkpoint: {last[1].name}" if last
                                                         else "no checkpoint yet: starting from step 0"), source="local")
            run.update_status(state="pending", error=None)
            return self.launch(run, recipe)

    def follow_options(self, run: RunDirectory) -> dict:
        return {"resume_hint": f"stop it with `ftwizard cancel {run.path}`"}

    @staticmethod
    def _here(run: RunDirectory) -> bool:
        host = run.status().get("host")
        return not host or host == socket.gethostname()

    def _process(self, run: RunDirectory) -> int | None:
        """The pid of the run's launcher process when that very process still runs here (pid and start time
        compared exactly, so a reused pid is not it), else None."""
        from ftwizard.runs import liveness

        return liveness.same_process(run.status()) if self._here(run) else None

    def is_alive(self, run: RunDirectory) -> bool:
        from ftwizard.runs import liveness

        if not self._here(run):
            # Another machine's run: trust its status while it keeps being updated.
            st = run.status()
            return st.get("state") not in FINAL_STATES and time.time() - float(st.get("updated_at") or 0) < 600
        return liveness.worker_running(run)

    def cancel(self, run: RunDirectory) -> None:
        """SIGTERM to the worker's process group: it saves a checkpoint and marks the run `cancelled`."""
        pid = self._process(run)
        if pid is None:
            if run.state not in FINAL_STATES:
                run.update_status(state="cancelled", error=None)
                run.append_event("status", state="cancelled", detail="the worker was not running")
            return
        pgid = run.status().get("pgid") or pid
        try:
            os.killpg(int(pgid), signal.SIGTERM)
        except ProcessLookupError:
            pass
        except PermissionError:
            raise UsageError(f"not allowed to stop process group {pgid} of {run.path} (another user's run?)") from None
