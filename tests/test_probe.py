"""The memory probe: it runs before step 1, and a batch that does not fit stops the run at once with the OOM advice."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.test_local_train import new_run, worker_env


def test_an_oversized_batch_stops_the_run_before_step_1_with_the_oom_advice(tmp_path, tiny_model_dir):
    run = new_run(tmp_path, tiny_model_dir, max_steps=400, micro_batch_size=8)
    env = worker_env()
    env["FTWIZARD_MEMORY_CAP_GIB"] = "0.05"  # far below what torch alone holds: the probe's batch cannot fit
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "ftwizard.workers.local", str(run.path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
    assert time.time() - t0 < 60
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "oom" and "out of memory" in st["error"]
    err = run.events(("error",))[-1]
    assert err["kind"] == "oom" and "memory probe needs" in err["detail"]
    advice = " | ".join(err["advice"])
    # a resume keeps the recorded settings: the changed ones are a new run of the recipe (never a --resume)
    assert "--set train.micro_batch_size=4 --set train.grad_accum=2" in advice and "recipe.toml --set" in advice
    assert "--resume" not in advice
    assert not [e for e in run.events(("metric",)) if e.get("loss") is not None], "no training step ran"


def test_the_probe_batch_is_the_longest_the_data_makes():
    from ftwizard.backends.local.probe import longest_batch

    exs = [{"input_ids": [1] * n} for n in (3, 9, 4, 12, 1)]
    assert [len(e["input_ids"]) for e in longest_batch(exs, 2)] == [12, 9]


def test_the_probe_takes_the_runs_eval_loss_step_on_the_longest_eval_batch(tmp_path, tiny_model_dir):
    """Eval loss runs in eval mode, where a fused loss (Liger's) materialises the full logits: the probe takes the
    Trainer's own prediction step on the longest eval-loss batch, so a pass that outgrows training stops the run
    before step 1, not at the first evaluation."""
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    from ftwizard.backends.local.probe import run_probe

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2,
                             per_device_eval_batch_size=3, use_cpu=True, report_to="none")
    trainer = Trainer(model=model, args=args)
    model.train()

    def collate(exs):
        n = max(len(e["input_ids"]) for e in exs)
        ids = torch.tensor([e["input_ids"] + [0] * (n - len(e["input_ids"])) for e in exs])
        return {"input_ids": ids, "labels": ids.clone(), "attention_mask": (ids != 0).long()}

    calls = []
    model.register_forward_pre_hook(lambda m, a, kw: calls.append(
        (m.training, "labels" in kw, tuple(kw["input_ids"].shape))), with_kwargs=True)
    train_ex = [{"input_ids": list(range(1, n + 1))} for n in (5, 7, 6)]
    eval_ex = [{"input_ids": list(range(1, n + 1))} for n in (9, 30, 12, 25, 4)]
    res = run_probe(trainer, collate, train_ex, device="cpu", context_gib=0.0, eval_loss_examples=eval_ex)
    assert calls[0] == (True, True, (2, 7))              # training: the 2 longest training examples
    assert (False, True, (3, 30)) in calls               # eval loss: eval mode, labels, the 3 longest eval rows
    assert res.eval_loss_tokens == 90 and res.train_tokens == 14
    assert model.training and all(p.grad is None for p in model.parameters())
