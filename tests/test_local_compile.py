"""train.torch_compile = true on the CPU (inductor builds C++ kernels with the gcc here): a few steps of the tiny
Llama compiled give the eager run's losses, and the summary records the time to the first step (compilation)."""

from __future__ import annotations

import json

import pytest

from tests.test_local_train import losses_by_step, new_run, run_worker

pytestmark = pytest.mark.slow  # over a minute on 2 cores; .ci/run runs it (`pytest -q` selects every mark)

STEPS = 4


def test_torch_compile_trains_like_eager_and_records_time_to_first_step(tmp_path, tiny_model_dir):
    eager = new_run(tmp_path / "eager", tiny_model_dir, max_steps=STEPS, save_every=0, lr=1e-3)
    compiled = new_run(tmp_path / "compiled", tiny_model_dir, max_steps=STEPS, save_every=0, lr=1e-3,
                       torch_compile=True)
    assert run_worker(eager) == 0
    assert run_worker(compiled, timeout=600) == 0, (compiled.path / "events.jsonl").read_text()[-3000:]
    s_eager = json.loads((eager.path / "train_summary.json").read_text())
    s = json.loads((compiled.path / "train_summary.json").read_text())
    assert s["speed"]["torch_compile"] is True and s_eager["speed"]["torch_compile"] is False
    assert any("torch.compile on" in e["text"] for e in compiled.events(("log",)))
    a, b = losses_by_step(eager), losses_by_step(compiled)
    assert sorted(b) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert b[step] == pytest.approx(a[step], abs=2e-3), (step, a[step], b[step])
    # compiling happens inside the first step: it is what a user waits for before step 1 is logged
    assert s["first_step_s"] > s_eager["first_step_s"]
    assert s["train_tokens_per_s"] > 0 and s["train_step_s"] < s["first_step_s"]  # steady state, from step 2
    print(f"time to first step: compiled {s['first_step_s']:.1f} s, eager {s_eager['first_step_s']:.1f} s")
