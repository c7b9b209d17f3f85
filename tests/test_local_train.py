"""Local LoRA training for real on a tiny Llama (CPU): loss falls, kill -9 + resume, cancel, full disk, torchrun."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftwizard.backends.local import LocalBackend, worker_command
from ftwizard.recipe import parse_recipe
from ftwizard.runs.directory import RunDirectory

REPO = Path(__file__).resolve().parent.parent
backend = LocalBackend()


def recipe_toml(model_dir: Path, **train) -> str:
    t = dict(max_length=64, micro_batch_size=4, grad_accum=1, max_steps=30, warmup_steps=0, lr=1e-2,
             logging_steps=1, eval_every=0, save_every=10, save_total_limit=3, group_by_length=False,
             loss_on="all", seed=7)
    t.update(train)
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in t.items())
    return f'''name = "tiny"
task = "viggo"
backend = "local"
[data]
limit_train = 48
limit_eval = 8
[prompt]
template = """
{{target}} => {{meaning_representation}}
"""
answer_field = "meaning_representation"
[model]
base = "{model_dir}"
dtype = "fp32"
[lora]
r = 8
alpha = 16
dropout = 0.0
# lm_head too: a random tiny model's lm_head caps how far its logits can move (loss stalls at ~6.1 without)
target_modules = ["q_proj", "v_proj", "up_proj", "down_proj", "lm_head"]
[train]
{lines}
[hardware]
device = "cpu"
price_per_hour = 0.5
[eval]
enabled = false
'''


def new_run(tmp_path: Path, model_dir: Path, **train) -> RunDirectory:
    text = recipe_toml(model_dir, **train)
    parse_recipe(text)  # valid
    return RunDirectory.create(tmp_path / "runs", "tiny", text)


def worker_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    # The same environment as backend.launch: Adam amplifies float differences from another thread count.
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_worker(run: RunDirectory, timeout: float = 240) -> int:
    p = subprocess.run([sys.executable, "-m", "ftwizard.workers.local", str(run.path)], env=worker_env(),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode not in (0, 130):
        print(p.stdout[-3000:], p.stderr[-3000:])
    return p.returncode


def metrics(run: RunDirectory) -> list[dict]:
    return [e for e in run.events(("metric",)) if e.get("loss") is not None]


def losses_by_step(run: RunDirectory) -> dict[int, float]:
    out = {}
    for e in metrics(run):
        out[e["step"]] = e["loss"]  # a resumed run re-logs steps after its checkpoint: keep the latest
    return out


def wait_for(pred, timeout=120.0, every=0.02):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise AssertionError("timed out waiting")


def start_worker(run: RunDirectory) -> subprocess.Popen:
    """The real launcher: a new session, output in worker.log, pid recorded in status.json."""
    return backend.launch(run, run.recipe())


def saw_log(run: RunDirectory, text: str) -> bool:
    return any(text in e.get("text", "") for e in run.events(("log",)))


# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, tiny_model_dir):
    """One uninterrupted run, shared by the tests that compare against it."""
    run = new_run(tmp_path_factory.mktemp("ref"), tiny_model_dir, max_steps=40, merge=True)
    assert run_worker(run) == 0, (run.path / "events.jsonl").read_text()[-2000:]
    return run


def test_training_lowers_the_loss_and_writes_the_run_directory(reference_run):
    run = reference_run
    st = run.status()
    assert st["state"] == "succeeded" and st["step"] == 40 and st["total_steps"] == 40
    # events parse, every line, with t and type
    for line in run.events_path.read_text().splitlines():
        ev = json.loads(line)
        assert isinstance(ev["t"], float | int) and ev["type"] in ("log", "metric", "status", "eval", "cost", "error")
    ms = metrics(run)
    assert [m["step"] for m in ms] == list(range(1, 41))
    for m in ms:
        for key in ("step", "max_steps", "loss", "lr", "grad_norm", "epoch", "elapsed_s", "cost_usd"):
            assert key in m, key
    assert all("tokens_per_s" in m and "eta_s" in m for m in ms[1:])
    first = sum(m["loss"] for m in ms[:5]) / 5
    last = sum(m["loss"] for m in ms[-5:]) / 5
    assert last < first - 0.3, (first, last)
    # adapter, summary, cost
    assert (run.adapter_dir / "adapter_config.json").exists()
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    summary = json.loads((run.path / "train_summary.json").read_text())
    for key in ("gpu", "gpu_count", "model", "quant", "peak_mem_gib", "train_tokens_per_s", "mfu", "train_tokens",
                "steps", "wall_s", "estimate"):
        assert key in summary, key
    assert summary["steps"] == 40 and summary["train_tokens"] > 0 and summary["train_tokens_per_s"] > 0
    cost = json.loads(run.cost_path.read_text())
    assert cost["training_kind"] == "actual" and cost["price_per_hour"] == 0.5
    assert cost["training_usd"] == pytest.approx(cost["hours"] * 0.5, rel=0.01)
    assert any(e["type"] == "cost" and e["kind"] == "actual" for e in run.events(("cost",)))
    # checkpoints renamed into place, no staging left, at most save_total_limit kept
    names = sorted(p.name for p in run.checkpoints_dir.iterdir())
    assert names == ["checkpoint-20", "checkpoint-30", "checkpoint-40"]


def test_memory_probe_before_step_1_and_calibration_quantities_in_the_summary(reference_run):
    events = [json.loads(line) for line in reference_run.events_path.read_text().splitlines()]
    probe = [i for i, e in enumerate(events) if e["type"] == "log" and e["text"].startswith("memory probe: ")]
    first_step = next(i for i, e in enumerate(events) if e["type"] == "metric")
    assert probe and probe[0] < first_step
    assert "GiB resident measured" in events[probe[0]]["text"] and "CPU: no GPU memory" in events[probe[0]]["text"]
    s = json.loads((reference_run.path / "train_summary.json").read_text())
    assert s["peak_mem_gib"] > 0 and s["peak_mem_kind"].startswith("cpu: peak resident")
    assert s["train_tokens_per_s"] > 0 and 0 < s["train_step_s"] < s["wall_s"]
    # tokens/s counts training steps only: above the tokens over the whole wall time
    assert s["train_tokens_per_s"] > s["train_tokens"] / s["wall_s"]
    assert s["mfu"] > 0 and s["mfu_basis"]["flops_per_token"] > 0
    # two utilisation figures, named apart: MFU (PaLM: model FLOPs) and HFU (hardware FLOPs)
    assert s["hfu"] > 0 and s["mfu_basis"]["hardware_flops_per_token"] > 0
    assert s["hfu"] / s["mfu"] == pytest.approx(s["mfu_basis"]["hardware_flops_per_token"]
                                                / s["mfu_basis"]["flops_per_token"], rel=0.01)
    assert s["memory_probe"]["train_tokens"] > 0 and s["gradient_checkpointing"] is False
    assert any("mfu" in e and "hfu" in e for e in events if e["type"] == "metric" and e.get("step", 0) > 1)


def test_adapter_loads_for_inference_and_generates(reference_run, tiny_model_dir):
    import torch

    from ftwizard.backends.local.modeling import load_for_inference

    recipe = reference_run.recipe()
    model, tok = load_for_inference(recipe, reference_run.adapter_dir)
    assert tok.padding_side == "left"
    enc = tok(["a b", "a much longer prompt here"], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape[0] == 2
    # the merged model (train.merge) is a plain model that answers like base + adapter
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(reference_run.path / "merged")
    with torch.no_grad():
        assert torch.allclose(merged(**enc).logits, model(**enc).logits, atol=1e-4)
    base, _ = load_for_inference(recipe, None)
    # the adapter changes the model's output
    with torch.no_grad():
        a = model(**enc).logits
        b = base(**enc).logits
    assert not torch.allclose(a, b)


def test_sigkill_then_resume_ends_where_an_uninterrupted_run_ends(tmp_path, tiny_model_dir, reference_run):
    run = new_run(tmp_path, tiny_model_dir, max_steps=40)
    p = start_worker(run)
    wait_for(lambda: saw_log(run, "checkpoint saved: checkpoint-10"))
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert run.state == "running"  # killed: it never got to say anything else
    killed_at = max(e["step"] for e in metrics(run))
    assert killed_at < 40
    last = max(int(d.name.split("-")[1]) for d in run.checkpoints_dir.glob("checkpoint-*"))

    backend.resume(run)
    wait_for(lambda: run.state in ("succeeded", "failed"), timeout=240, every=0.2)
    assert run.state == "succeeded", (run.path / "worker.log").read_text()[-3000:]
    assert saw_log(run, f"resuming from checkpoint-{last} (step {last})")
    steps = [e["step"] for e in metrics(run)]
    restart = steps.index(last + 1, steps.index(killed_at) + 1) if killed_at > last else steps.index(last + 1)
    assert steps[restart:] == list(range(last + 1, 41)), "resume continues at the step after the checkpoint"
    ref, got = losses_by_step(reference_run), losses_by_step(run)
    # same optimizer, scheduler, RNG and data order: the curves match after the resume too
    for s in range(last + 1, 41):
        assert got[s] == pytest.approx(ref[s], rel=1e-3, abs=1e-3), s
    assert run.status()["train_elapsed_s"] > 0


def test_incomplete_checkpoints_are_never_resumed_from(tmp_path, reference_run):
    from ftwizard.backends.local.checkpoints import last_checkpoint

    ck = tmp_path / "checkpoints"
    shutil.copytree(reference_run.checkpoints_dir / "checkpoint-20", ck / "checkpoint-20")
    # A kill during a save leaves a staging folder; a folder without trainer_state.json is not complete.
    (ck / ".staging" / "checkpoint-30").mkdir(parents=True)
    (ck / ".staging" / "checkpoint-30" / "optimizer.pt").write_bytes(b"partial")
    broken = ck / "checkpoint-25"
    shutil.copytree(ck / "checkpoint-20", broken)
    (broken / "trainer_state.json").unlink()
    assert last_checkpoint(ck)[0] == 20


def test_sigterm_saves_a_checkpoint_and_marks_cancelled(tmp_path, tiny_model_dir):
    run = new_run(tmp_path, tiny_model_dir, max_steps=400, save_every=0)
    p = start_worker(run)
    wait_for(lambda: any(m["step"] >= 5 for m in metrics(run)))
    backend.cancel(run)
    p.wait(timeout=60)
    st = run.status()
    assert st["state"] == "cancelled"
    stopped = st["step"]
    assert 5 <= stopped < 400
    assert (run.checkpoints_dir / f"checkpoint-{stopped}" / "optimizer.pt").exists()
    assert any(e.get("state") == "cancelled" for e in run.events(("status",)))
    assert not backend.is_alive(run)


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def test_full_disk_during_a_checkpoint_keeps_the_last_good_one(tmp_path, tiny_model_dir):
    """A real full disk (a small tmpfs) when root may mount one; else a real per-file size limit (EFBIG)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                             capture_output=True).returncode == 0
    try:
        run = new_run(mnt if mounted else tmp_path, tiny_model_dir, max_steps=2000, save_every=10)
        p = start_worker(run)
        wait_for(lambda: saw_log(run, "checkpoint saved: checkpoint-10"))
        if mounted:
            filler = mnt / "filler"
            with open(filler, "wb") as f:  # leave ~120 KB: a few events fit, a checkpoint (~350 KB) does not
                f.write(b"\0" * max(0, _free_bytes(mnt) - 120_000))
        else:
            resource.prlimit(p.pid, resource.RLIMIT_FSIZE, (120_000, 120_000))
        p.wait(timeout=120)
        st = run.status()
        assert st["state"] == "failed"
        errors = run.events(("error",))
        assert errors and errors[-1]["kind"] == "disk"
        assert "last good checkpoint is kept (checkpoint-" in errors[-1]["message"]
        good = sorted(int(d.name.split("-")[1]) for d in run.checkpoints_dir.glob("checkpoint-*"))
        assert good and all((run.checkpoints_dir / f"checkpoint-{g}" / "trainer_state.json").exists() for g in good)
        assert not (run.checkpoints_dir / ".staging").exists()
        assert any("--resume" in a for a in errors[-1]["advice"])
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)], capture_output=True)


def test_two_process_torchrun_matches_the_single_process_curve(tmp_path, tiny_model_dir, reference_run):
    """DDP on CPU (gloo): 2 x micro-batch 2 == 1 x micro-batch 4; one adapter, one event stream."""
    single = reference_run
    ddp = new_run(tmp_path / "two", tiny_model_dir, max_steps=40, micro_batch_size=2)
    cmd = worker_command(ddp, 2)
    assert "torch.distributed.run" in cmd and "--nproc-per-node=2" in cmd
    env = worker_env()
    env.pop("FTWIZARD_TORCHRUN_ARGS", None)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert ddp.state == "succeeded"
    ms = metrics(ddp)
    assert [m["step"] for m in ms] == list(range(1, 41)), "one event stream: each step logged once"
    assert sum(1 for e in ddp.events(("status",)) if e["state"] == "succeeded") == 1
    assert (ddp.adapter_dir / "adapter_model.safetensors").exists()
    assert not list(ddp.path.glob(".adapter*"))
    a, b = losses_by_step(single), losses_by_step(ddp)
    for s in range(1, 41):
        assert b[s] == pytest.approx(a[s], rel=0.02, abs=0.02), (s, a[s], b[s])
    assert json.loads((ddp.path / "train_summary.json").read_text())["world_size"] == 2
