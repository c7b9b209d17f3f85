"""Activation offloading (train.activation_offloading): the trainer's hooks on a real tiny Llama (CPU), what the
estimator says they move, the estimate through the CLI, and the recipe's refusals."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from ftwizard.errors import UsageError
from ftwizard.recipe import validate_dict

TARGETS = ["q_proj", "v_proj", "up_proj", "down_proj"]


def tiny_recipe(model_dir, **train) -> dict:
    return {"name": "tiny", "task": "viggo", "backend": "local",
            "model": {"base": str(model_dir), "dtype": "fp32"},
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": TARGETS},
            "train": {"max_length": 64, "seed": 7, **train}, "hardware": {"device": "cpu"}}


def train_steps(model_dir, *, gc: bool, offload: bool, steps: int = 3, compile: bool = False,
                reentrant: bool = False):
    """(losses, LoRA gradients of the last step, the offloader or None) of a few AdamW steps on one batch."""
    import torch
    from transformers import set_seed

    from ftwizard.backends.local.modeling import load_for_training
    from ftwizard.backends.local.offload import install

    recipe = validate_dict(tiny_recipe(model_dir, gradient_checkpointing=gc))
    set_seed(7)
    model, _tok = load_for_training(recipe)
    if reentrant:  # the trainer's is non-reentrant; the reentrant variant routes saved tensors its own way
        model.get_base_model().gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    model.train()
    # "cpu": the same packing a CUDA run does, with the host copy a second CPU tensor (no GPU here)
    off = install(model, source="cpu", min_bytes=0) if offload else None
    run = torch.compile(model) if compile else model  # the whole model, as the Trainer's torch_compile does
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(4, model.config.vocab_size, (3, 40), generator=gen)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = run(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return losses, grads, off, model


@pytest.mark.parametrize("gc", [True, False], ids=["checkpointing", "no-checkpointing"])
def test_offloaded_training_matches_and_moves_what_the_estimate_says(tiny_model_dir, gc):
    import torch

    from ftwizard.catalog import open_model_from_config
    from ftwizard.estimate.memory import activation_split

    plain_losses, plain_grads, _, _ = train_steps(tiny_model_dir, gc=gc, offload=False)
    losses, grads, off, model = train_steps(tiny_model_dir, gc=gc, offload=True)
    assert losses == pytest.approx(plain_losses, rel=1e-6, abs=1e-7)
    assert losses[-1] < losses[0]
    assert grads.keys() == plain_grads.keys()
    for name, g in grads.items():
        torch.testing.assert_close(g, plain_grads[name], rtol=1e-5, atol=1e-7)

    # it really packed: every training forward, and only activations (weights stay where they are)
    assert off.last.tensors > 0 and off.total.nbytes == 3 * off.last.nbytes
    assert off.last.kept > 0
    shapes = {tuple(p.shape) for p in model.parameters()}
    assert not any(shape in shapes for shape, _dtype in off.last.by_shape)

    om = open_model_from_config(model.config.to_dict(), id="tiny", source="test")
    est = activation_split(om, TARGETS, 0.0, 4.0, micro_batch=3, seq_len=40, gradient_checkpointing=gc,
                           offload=True)["offloaded"]
    if gc:
        # torch's non-reentrant checkpoint saves each layer's input through the outer hooks, nothing else of the
        # layer reaches them; the final RMSNorm adds its input and reciprocal RMS: counted exactly
        assert off.last.nbytes == est
        assert off.last.by_shape[((3, 40, om.hidden), "float32")] == om.layers + 1
    else:
        # every saved tensor of every layer: the memory model's per-layer figure (measured 16% above on this
        # fp32 CPU model: RMSNorm's fp32 upcast is the input itself here, counted apart in the model)
        assert est == pytest.approx(off.last.nbytes, rel=0.25)


def test_reentrant_checkpointing_offloads_the_same_layer_inputs(tiny_model_dir):
    """Both checkpoint variants save each layer's input through the outer hooks (non-reentrant: its inputs saved
    before its own hooks are pushed; reentrant: save_for_backward of its autograd Function) and nothing else of the
    layer, so the estimate holds for either."""
    plain, _, off_non, _ = train_steps(tiny_model_dir, gc=True, offload=True, steps=1)
    losses, _, off_re, _ = train_steps(tiny_model_dir, gc=True, offload=True, steps=1, reentrant=True)
    assert losses == pytest.approx(plain, rel=1e-6)
    assert off_re.last.nbytes == off_non.last.nbytes and off_re.last.by_shape == off_non.last.by_shape


@pytest.mark.slow
def test_compiled_with_checkpointing_offloads_the_same_bytes(tiny_model_dir):
    """train.torch_compile with checkpointing: the same losses and the same bytes as eager (the recipe refuses
    compile without checkpointing, where the compiled graph saves past the hooks)."""
    eager_losses, _, eager, _ = train_steps(tiny_model_dir, gc=True, offload=True)
    losses, _, off, _ = train_steps(tiny_model_dir, gc=True, offload=True, compile=True)
    plain, _, _, _ = train_steps(tiny_model_dir, gc=True, offload=False, compile=True)
    assert losses == pytest.approx(plain, rel=1e-6) and losses == pytest.approx(eager_losses, rel=1e-5)
    assert off.last.nbytes == eager.last.nbytes > 0


def test_weights_small_tensors_and_eval_forwards_stay_put(tiny_model_dir):
    import torch

    from ftwizard.backends.local.offload import ActivationOffload

    _, _, off, model = train_steps(tiny_model_dir, gc=True, offload=True, steps=1)
    w = next(p for p in model.parameters() if p.dim() == 2)
    probe = ActivationOffload(model, source="cpu", min_bytes=1024)
    with probe:
        assert probe.pack(w) is w and probe.pack(w.t()).data_ptr() == w.data_ptr()  # a weight, or its view
        small = torch.zeros(8)
        assert probe.pack(small) is small
        act = torch.randn(64, 64)
        device, host = probe.pack(act)
        assert host.data_ptr() != act.data_ptr() and torch.equal(probe.unpack((device, host)), act)
        # saved twice (RMSNorm's pow and mul): crosses once
        assert probe.pack(act)[1] is host and probe.last.tensors == 1
    before = off.total.nbytes
    with torch.no_grad():
        model(input_ids=torch.ones(2, 16, dtype=torch.long))
    assert off.total.nbytes == before


def estimate_json(*args: str) -> dict:
    from ftwizard.cli.main import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["estimate", *args, "--runs-dir", "/nonexistent-ftwizard-runs", "--json"])
    assert rc == 0
    return json.loads(buf.getvalue())["local"]


@pytest.mark.parametrize("gc", ["true", "false"])
def test_estimate_with_offloading_has_less_memory_and_more_time(gc):
    base = ["--model", "meta-llama/Llama-3.1-8B", "--gpu", "A100-80GB", "--quant", "none", "--examples", "1000",
            "--tokens-per-example", "2048", "--epochs", "1", "--set", "train.max_length=2048",
            "--set", "train.micro_batch_size=2", "--set", f"train.gradient_checkpointing={gc}"]
    plain = estimate_json(*base)
    off = estimate_json(*base, "--set", "train.activation_offloading=true")
    pb, ob = plain["breakdown"], off["breakdown"]
    assert pb["activation_offloading"] is None and pb["time"]["seconds"]["offload_transfer"] == 0
    assert off["vram_gb"] < plain["vram_gb"] and ob["vram"]["activations"] < pb["vram"]["activations"]
    assert off["tokens_per_s"] < plain["tokens_per_s"] and off["hours"] >= plain["hours"]
    for part in ("weights_quantized", "logits", "optimizer_states"):  # only the activations move
        assert ob["vram"][part] == pb["vram"][part]
    o = ob["activation_offloading"]
    assert o["host_link_gbs"] == 32 and "PCIe Gen4" in o["host_link_source"]
    # each offloaded byte crosses the link twice at its payload ceiling, on a side stream: with checkpointing (1 GiB
    # a micro-batch) the kernels hide nearly all of it, without (every layer's saved tensors) the link bounds the step
    from ftwizard.estimate.base import GIB, HOST_LINK_EFF
    copy_s = o["offloaded_gb"] * GIB / (32e9 * HOST_LINK_EFF)
    exposed = ob["time"]["seconds"]["offload_transfer"]
    assert 0 < exposed < 2 * copy_s
    if gc == "true":
        assert exposed < 0.2 * copy_s
    else:
        assert exposed > copy_s
    # what moves: checkpointing keeps every layer's input (32 x 2 x 2048 x 4096 x 2 B = 1 GiB) and the final
    # RMSNorm's fp32 input and reciprocal RMS; without it every saved tensor of every layer
    if gc == "true":
        assert o["offloaded_gb"] == pytest.approx((32 * 2 * 2048 * 4096 * 2 + 2 * 2048 * (4 * 4096 + 4)) / GIB,
                                                  abs=0.001)
    else:
        assert o["offloaded_gb"] > 10


def test_offloading_is_offered_where_it_keeps_the_micro_batch():
    loc = estimate_json("--model", "Qwen/Qwen2.5-1.5B", "--gpu", "L4", "--examples", "1000",
                        "--tokens-per-example", "4096", "--epochs", "1", "--set", "train.max_length=4096",
                        "--set", "train.micro_batch_size=2", "--set", "train.gradient_checkpointing=false")
    assert not loc["fits"]
    changes = [n["change"] for n in loc["nearest_fits"]]
    assert "--set train.activation_offloading=true" in changes     # keeps micro-batch 2, where checkpointing needs 1
    applied = estimate_json("--model", "Qwen/Qwen2.5-1.5B", "--gpu", "L4", "--examples", "1000",
                            "--tokens-per-example", "4096", "--epochs", "1", "--set", "train.max_length=4096",
                            "--set", "train.micro_batch_size=2", "--set", "train.gradient_checkpointing=false",
                            "--set", "train.activation_offloading=true")
    assert applied["fits"]
    # never where the recipe would refuse it (compile without checkpointing)
    compiled = estimate_json("--model", "Qwen/Qwen2.5-1.5B", "--gpu", "L4", "--examples", "1000",
                             "--tokens-per-example", "4096", "--epochs", "1", "--set", "train.max_length=4096",
                             "--set", "train.micro_batch_size=2", "--set", "train.gradient_checkpointing=false",
                             "--set", "train.torch_compile=true")
    assert not any("offloading" in n["change"] for n in compiled["nearest_fits"])


def test_a_cpu_estimate_offloads_nothing():
    loc = estimate_json("--model", "HuggingFaceTB/SmolLM2-135M", "--gpu", "cpu", "--examples", "100",
                        "--tokens-per-example", "256", "--set", "train.activation_offloading=true")
    assert loc["breakdown"]["activation_offloading"] is None


@pytest.mark.parametrize("train,hardware,needle", [
    ({"activation_offloading": True}, {"device": "cpu"}, "hardware.device = 'cpu'"),
    ({"activation_offloading": True, "torch_compile": True, "gradient_checkpointing": False}, {},
     "train.gradient_checkpointing = true"),
])
def test_combinations_the_run_cannot_honour_are_refused_naming_the_key(train, hardware, needle):
    data = {"name": "x", "task": "sql", "train": train, "hardware": hardware}
    with pytest.raises((UsageError, ValueError)) as e:
        validate_dict(data)
    assert "train.activation_offloading" in str(e.value) and needle in str(e.value)
    for ok in ({"activation_offloading": True}, {"activation_offloading": True, "torch_compile": True,
                                                 "gradient_checkpointing": True}):
        assert validate_dict({"name": "x", "task": "sql", "train": ok}).train.activation_offloading


def test_the_benchmark_maps_offload_rows_to_the_key():
    """benchmarks/bench_estimator.py: a row's `offload` is --set train.activation_offloading; torchtune's
    optimisation-flags rows ran with it, and its LoRA memory (torch's active bytes) is met once it is counted."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_estimator as b

    rows = [r for r in b.rows() if r["source"] == "torchtune" and r.get("mem_gib")]
    assert len(rows) == 2 and all(r["offload"] and r["mem_scope"] == "torch_allocated" for r in rows)
    lora = next(r for r in rows if r["quant"] == "none")
    assert "train.activation_offloading=true" in b.argv(lora)
    with_it = b.peak_as_measured(b.estimate(lora), "torch_allocated")
    without = b.peak_as_measured(b.estimate({**lora, "offload": False}), "torch_allocated")
    assert with_it == pytest.approx(lora["mem_gib"], rel=0.06) and without > lora["mem_gib"] * 1.1


def test_out_of_memory_advice_offers_offloading_where_the_run_would_honour_it():
    from ftwizard.backends.local.probe import oom_advice

    def advice(device, **train):
        recipe = validate_dict({"name": "x", "task": "sql", "train": train})
        return " ".join(oom_advice(recipe, {"vram_gb": 30.0}, 31.0, device)[1])

    assert "--set train.activation_offloading=true" in advice("cuda")
    assert "activation_offloading" not in advice("cpu")
    assert "activation_offloading" not in advice("cuda", activation_offloading=True)
    assert "activation_offloading" not in advice("cuda", torch_compile=True)  # refused there without checkpointing


async def test_the_wizard_estimates_a_recipe_that_offloads_as_it_runs(tmp_path, monkeypatch):
    """The hardware step's rows come from the recipe's estimate: with train.activation_offloading the recipe's own
    row holds less VRAM, and the chosen line says activations go to host memory."""
    from pathlib import Path

    from textual.widgets import Static

    from ftwizard.recipe import load_recipe
    from ftwizard.tui.app import make_app
    from ftwizard.tui.state import WizardState
    from tests.test_tui import SIZE, wait_for

    monkeypatch.chdir(tmp_path)
    path = Path(__file__).resolve().parent.parent / "recipes" / "sql-codellama34b-lora.toml"
    rows = {}
    for offload in (False, True):
        recipe = load_recipe(path, ["data.limit_train=50", "data.limit_eval=10",
                                    f"train.activation_offloading={str(offload).lower()}"])
        app = make_app(state=WizardState().with_recipe(recipe, choice="task:sql"), start_step=1,
                       runs_dir=tmp_path / "runs", hardware={"gpus": []})
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen._last[0] is not None and app.screen._last[1], what="estimates")
            rows[offload] = next(r for r in app.screen._last[1]
                                 if r["model"] == "codellama/CodeLlama-34b-hf" and r["quant"] == "8bit")
            chosen = str(app.screen.query_one("#chosen", Static).render())
            assert ("offloaded to host memory" in chosen) is offload
    assert rows[True]["vram_gb"] < rows[False]["vram_gb"] and rows[True]["hours"] >= rows[False]["hours"]


def test_offloading_composes_with_fsdp2(tiny_model_dir, monkeypatch):
    """Under FSDP2 (ftwizard's sharding.shard, one gloo process) the parameters are DTensor shards and each layer
    computes with gathered plain Parameters: the hooks skip those as weights and move the same activations as
    unsharded, with the same losses."""
    import socket

    import torch
    import torch.distributed as dist

    from ftwizard.backends.local import sharding

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1",
                 "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(k, v)
    real_install = __import__("ftwizard.backends.local.offload", fromlist=["install"]).install

    shards = []

    def sharded_install(model, **kw):
        shards.append(sharding.shard(model, device="cpu", compute_dtype=torch.float32))
        assert sharding.dtensor_fraction(model) == 1.0
        return real_install(model, **kw)

    try:
        unsharded_losses, _, unsharded, _ = train_steps(tiny_model_dir, gc=True, offload=True, steps=2)
        monkeypatch.setattr("ftwizard.backends.local.offload.install", sharded_install)
        losses, _, off, _ = train_steps(tiny_model_dir, gc=True, offload=True, steps=2)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert shards and shards[0]["units"] > 1
    assert losses == pytest.approx(unsharded_losses, rel=1e-6)
    assert off.last.nbytes == unsharded.last.nbytes > 0


def test_a_worker_without_a_gpu_says_offloading_does_nothing(tmp_path, tiny_model_dir):
    """The recipe key reaches the real worker: hardware.device = 'auto' on a machine without a GPU trains on the CPU,
    says offloading has nothing to move there, and records none in train_summary.json."""
    from ftwizard.recipe import parse_recipe
    from ftwizard.runs.directory import RunDirectory
    from tests.test_local_train import recipe_toml, run_worker, saw_log

    text = recipe_toml(tiny_model_dir, max_steps=2, save_every=0, activation_offloading=True)
    text = text.replace('device = "cpu"', 'device = "auto"')
    parse_recipe(text)
    run = RunDirectory.create(tmp_path / "runs", "tiny", text)
    assert run_worker(run) == 0
    assert saw_log(run, "activation offloading: nothing to do on the CPU")
    summary = json.loads((run.path / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["activation_offloading"] is None


def test_the_estimate_table_says_what_offloading_moves():
    from ftwizard.cli.main import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["estimate", "--model", "meta-llama/Llama-3.1-8B", "--gpu", "H100", "--examples", "1000",
                   "--tokens-per-example", "2048", "--set", "train.max_length=2048", "--set",
                   "train.activation_offloading=true", "--set", "train.gradient_checkpointing=true",
                   "--runs-dir", "/nonexistent-ftwizard-runs"])
    assert rc == 0
    text = " ".join(buf.getvalue().split())  # rich folds the line at the terminal's width
    assert "activation offloading: 4.25 GiB per micro-batch to host memory and back over 64 GB/s (0." in text
