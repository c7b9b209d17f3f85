"""FSDP2 for real on the CPU (gloo), as on CUDA (nccl): two processes under torchrun shard every decoder layer
and the root (the parameters are DTensors), checkpoint, are killed with SIGKILL, resume, and save one adapter
equal to a one-process run of the same global batch (micro-batch 2 x 2 processes = micro-batch 2 x accumulation
2); that adapter loads in plain peft. The same with a 4-bit base (QLoRA under FSDP, weights stored in the
compute dtype)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.test_local_train import (backend, losses_by_step, metrics, new_run, run_worker, saw_log, start_worker,
                                    wait_for)

pytestmark = pytest.mark.slow  # over a minute on 2 cores; .ci/run runs it (`pytest -q` selects every mark)

STEPS, SAVE = 8, 3


def _with(run, *, quant: str, nproc: int):
    text = (run.path / "recipe.toml").read_text()
    if quant != "none":
        text = text.replace('dtype = "fp32"', f'dtype = "fp32"\nquant = "{quant}"')
    text = text.replace('[hardware]\ndevice = "cpu"', f'[hardware]\ndevice = "cpu"\nnproc = {nproc}')
    (run.path / "recipe.toml").write_text(text)
    return run


def _adapter(run):
    from safetensors.torch import load_file

    return load_file(run.adapter_dir / "adapter_model.safetensors")


@pytest.mark.parametrize("quant", ["none", "4bit"])
def test_fsdp2_shards_resumes_after_kill_9_and_matches_one_process(tmp_path, tiny_model_dir, quant):
    import torch

    one = _with(new_run(tmp_path / "one", tiny_model_dir, max_steps=STEPS, save_every=SAVE, micro_batch_size=2,
                        grad_accum=2), quant=quant, nproc=1)
    assert run_worker(one) == 0, (one.path / "events.jsonl").read_text()[-3000:]

    two = _with(new_run(tmp_path / "two", tiny_model_dir, max_steps=STEPS, save_every=SAVE, micro_batch_size=2,
                        fsdp=True), quant=quant, nproc=2)
    p = start_worker(two)  # the real launcher: torchrun --nproc-per-node=2
    wait_for(lambda: saw_log(two, f"checkpoint saved: checkpoint-{SAVE}"), timeout=240)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert two.state == "running" and not (two.adapter_dir / "adapter_config.json").exists()
    last = max(int(d.name.split("-")[1]) for d in two.checkpoints_dir.glob("checkpoint-*"))
    assert last < STEPS
    backend.resume(two)
    wait_for(lambda: two.state in ("succeeded", "failed"), timeout=300, every=0.2)
    assert two.state == "succeeded", (two.path / "worker.log").read_text()[-4000:]
    assert saw_log(two, f"resuming from checkpoint-{last} (step {last})"), "\n".join(e["text"][:90] for e in two.events(("log",)))

    # really sharded: every parameter a DTensor, one FSDP unit per decoder layer + the root, gloo on the CPU
    s = json.loads((two.path / "train_summary.json").read_text())
    assert s["world_size"] == 2 and s["speed"]["fsdp"] is True
    assert s["speed"]["fsdp_sharded_params"] is True and s["speed"]["fsdp_dtensor_fraction"] == 1.0
    assert saw_log(two, "FSDP2: 2 x LlamaDecoderLayer + the root sharded across 2 processes (gloo)")
    if quant == "4bit":
        assert s["quantized_layers"].get("Linear4bit", 0) >= 2 * 7

    # the same training as one process: loss per step, and the adapter, one of it, written once
    a, b = losses_by_step(one), losses_by_step(two)
    assert sorted(b) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert b[step] == pytest.approx(a[step], abs=1e-4), (step, a[step], b[step])
    x, y = _adapter(one), _adapter(two)
    assert sorted(x) == sorted(y)
    assert max((x[k] - y[k]).abs().max().item() for k in x) <= 1e-5
    assert sum(1 for e in two.events(("status",)) if e["state"] == "succeeded") == 1
    assert not list(two.path.glob(".adapter*"))
    assert [m["step"] for m in metrics(two)][-STEPS + last:] == list(range(last + 1, STEPS + 1))

    # plain peft loads it onto the base, no ftwizard involved
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), two.adapter_dir)
    key = next(k for k in y if "lora_A" in k)
    loaded = dict(peft_model.named_parameters())[key.replace("lora_A.weight", "lora_A.default.weight")]
    assert torch.equal(loaded.detach(), y[key])
