"""A local run with evaluation on: the fine-tuned model and (eval.baseline) the base model, same examples."""

from __future__ import annotations

import json

from tests.test_local_train import new_run, run_worker


def test_worker_evaluates_finetuned_and_baseline(tmp_path, tiny_model_dir):
    run = new_run(tmp_path, tiny_model_dir, max_steps=4, save_every=0)
    text = run.recipe_path.read_text().replace("[eval]\nenabled = false",
                                               "[eval]\nenabled = true\nbaseline = true\nlimit = 4\nmax_new_tokens = 8")
    run.recipe_path.write_text(text)
    assert run_worker(run) == 0, run.events_path.read_text()[-2000:]
    assert run.status()["state"] == "succeeded"
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["n"] == 4 and set(metrics["metrics"]) >= {"exact_match", "slot_f1"}
    assert metrics["baseline"]["n"] == 4
    base = [json.loads(line) for line in open(run.path / "predictions_baseline.jsonl")]
    tuned = [json.loads(line) for line in open(run.predictions_path)]
    assert [p["index"] for p in base] == [p["index"] for p in tuned] == [0, 1, 2, 3]
    # The adapter was really switched off for the baseline: the answers differ somewhere.
    assert [p["raw"] for p in base] != [p["raw"] for p in tuned]
