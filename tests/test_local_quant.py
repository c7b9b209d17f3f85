"""A quantized base trains on the CPU through the same code path as on CUDA (bitsandbytes >= 0.48: k-bit
preparation, gradient checkpointing, compute dtype): the seed's own configuration on a tiny Llama - 8-bit,
LoRA r=8 / alpha=16 on q/k/v/o, group_by_length, checkpointing, fp16 - trains, survives kill -9, evaluates and
merges for serving in the training dtype."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.test_local_train import (backend, losses_by_step, metrics, new_run, run_worker, saw_log, start_worker,
                                    wait_for)


SEED = dict(max_steps=12, save_every=4, micro_batch_size=4, group_by_length=True, gradient_checkpointing=True,
            lr=1e-2, merge=True)


def seed_run(tmp_path, model_dir, **over):
    """The seed's local recipe, shrunk: its quantization, LoRA, batch ordering and checkpointing."""
    run = new_run(tmp_path, model_dir, **{**SEED, **over})
    text = (run.path / "recipe.toml").read_text()
    text = text.replace('dtype = "fp32"', 'dtype = "fp16"\nquant = "8bit"')
    text = text.replace('target_modules = ["q_proj", "v_proj", "up_proj", "down_proj", "lm_head"]',
                        'target_modules = ["q_proj", "k_proj", "v_proj", "o_proj"]')
    text = text.replace("[eval]\nenabled = false", "[eval]\nenabled = true\nlimit = 4\nmax_new_tokens = 8\nbatch_size = 4")
    (run.path / "recipe.toml").write_text(text)
    r = run.recipe()
    assert (r.model.quant, r.model.dtype, r.lora.r, r.lora.alpha, r.train.group_by_length) == ("8bit", "fp16", 8, 16, True)
    return run


@pytest.fixture(scope="module")
def quant_reference(tmp_path_factory, tiny_model_dir):
    run = seed_run(tmp_path_factory.mktemp("q8"), tiny_model_dir)
    assert run_worker(run) == 0, (run.path / "events.jsonl").read_text()[-3000:]
    return run


def test_8bit_seed_configuration_trains_evaluates_and_merges_on_the_cpu(quant_reference):
    run = quant_reference
    assert run.state == "succeeded"
    s = json.loads((run.path / "train_summary.json").read_text())
    assert s["device"] == "cpu" and s["quant"] == "8bit" and s["gradient_checkpointing"] is True
    assert s["quantized_layers"].get("Linear8bitLt", 0) >= 2 * 7  # every linear of both layers is int8
    # the estimate of a quantized CPU run exists and sits beside the probe's measurement
    assert s["estimate"]["quant"] == "8bit" and s["estimate"]["vram_gb"] > 0
    assert s["memory_probe"]["measured_gib"] > 0 and s["memory_probe"]["estimate_gib"] == pytest.approx(
        s["estimate"]["vram_gb"], rel=0.1)
    ms = metrics(run)
    assert [m["step"] for m in ms] == list(range(1, 13))
    assert sum(m["loss"] for m in ms[-3:]) < sum(m["loss"] for m in ms[:3])
    # evaluated (with the quantized model in memory) and merged for serving in fp16, the training dtype
    assert (run.path / "predictions.jsonl").exists() and run.events(("eval",))
    cfg = json.loads((run.path / "merged" / "config.json").read_text())
    assert cfg.get("dtype", cfg.get("torch_dtype")) == "float16" and "quantization_config" not in cfg
    assert saw_log(run, "merged model saved") and (run.adapter_dir / "adapter_model.safetensors").exists()
    acfg = json.loads((run.adapter_dir / "adapter_config.json").read_text())
    assert sorted(acfg["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"] and acfg["r"] == 8


def test_8bit_run_resumes_after_kill_9_on_the_reference_curve(tmp_path, tiny_model_dir, quant_reference):
    run = seed_run(tmp_path, tiny_model_dir, merge=False)
    p = start_worker(run)
    wait_for(lambda: saw_log(run, "checkpoint saved: checkpoint-4"), timeout=180)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert run.state == "running"
    last = max(int(d.name.split("-")[1]) for d in run.checkpoints_dir.glob("checkpoint-*"))
    backend.resume(run)
    wait_for(lambda: run.state in ("succeeded", "failed"), timeout=240, every=0.2)
    assert run.state == "succeeded", (run.path / "worker.log").read_text()[-3000:]
    assert saw_log(run, f"resuming from checkpoint-{last}")
    ref, got = losses_by_step(quant_reference), losses_by_step(run)
    for s in range(last + 1, 13):
        assert got[s] == pytest.approx(ref[s], abs=1e-3), s
