"""`ftwizard compare` on runs made by the real commands: an OpenAI job brought in with `ftwizard
import-openai-job` (fake OpenAI server on 127.0.0.1, evaluated through the serving client) and a local LoRA run
of the recipe the import wrote, trained and evaluated for real by `ftwizard run` on the tiny Llama (CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ftwizard.cli.main import main
from ftwizard.recipe import load_recipe
from ftwizard.runs.directory import RunDirectory
from tests.test_hosted import fake  # noqa: F401 - the fake OpenAI server fixture
from tests.test_hosted_import import _copies, _flags, _hosted_job

REPO = Path(__file__).resolve().parent.parent


def test_compare_an_imported_openai_job_with_a_local_run_of_its_recipe(fake, tmp_path, tiny_model_dir, capfd):
    # 1. the hosted side: an existing OpenAI fine-tune, imported and evaluated (the fake answers right)
    job_id, train, valid = _hosted_job(fake)
    recipe_path = tmp_path / "heads.toml"
    copies = _copies(tmp_path, train, valid)  # OpenAI does not give a fine-tune's training file back
    assert main(["import-openai-job", job_id, "--runs-dir", str(tmp_path / "runs"), "--out-recipe",
                 str(recipe_path), "--json", *_flags(copies)]) == 0
    hosted_dir = json.loads(capfd.readouterr().out)["run_dir"]
    from ftwizard.evaluation.runner import evaluate_run

    evaluate_run(RunDirectory(hosted_dir))

    # 2. the local side: the recipe the import wrote, on the tiny model, run by `ftwizard run` (train + eval)
    local = load_recipe(recipe_path).with_updates({
        "name": "heads-local", "model.base": str(tiny_model_dir), "model.dtype": "fp32",
        "lora.target_modules": ["all-linear"], "lora.dropout": 0.0, "train.max_steps": 6, "train.max_length": 96,
        "train.micro_batch_size": 4, "train.grad_accum": 1, "train.warmup_steps": 0, "train.lr": 1e-2,
        "train.save_every": 0, "train.eval_every": 0, "train.group_by_length": False, "hardware.device": "cpu",
        "hardware.price_per_hour": 0.5, "eval.max_new_tokens": 12})
    local_path = tmp_path / "heads-local.toml"
    local_path.write_text(local.to_toml())
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="2", NO_COLOR="1",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("OPENAI_API_KEY", None)  # the local run needs no key
    p = subprocess.run([sys.executable, "-m", "ftwizard", "run", str(local_path), "--runs-dir",
                        str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    local_dir = next(d for d in (tmp_path / "runs").iterdir() if d.name.startswith("heads-local-"))

    # 3. the verdict over both
    p = subprocess.run([sys.executable, "-m", "ftwizard", "compare", hosted_dir, str(local_dir), "--json",
                        "--as-of", "2026-03-01", "--requests-per-month", "20000"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    v = json.loads(p.stdout)
    runs = {r["backend"]: r for r in v["runs"]}
    assert runs["hosted"]["imported"] is True and runs["hosted"]["model"].startswith("ft:gpt-4o-mini")
    assert runs["hosted"]["training_kind"] == "actual" and runs["hosted"]["training_usd"] > 0
    assert runs["local"]["training_kind"] == "actual" and runs["local"]["training_usd"] > 0
    assert runs["local"]["wall_s"] > 0 and runs["local"]["loss_final"] is not None
    assert runs["hosted"]["metrics"]["exact_match"]["value"] == 1.0
    assert runs["hosted"]["metrics"]["exact_match"]["n"] == len(valid) == runs["local"]["metrics"]["exact_match"]["n"]
    c = v["comparison"]
    assert v["metric"] == "exact_match" and c["n_paired"] == len(valid)  # paired on the same 5 eval examples
    local_right = round(runs["local"]["metrics"]["exact_match"]["value"] * len(valid))
    assert c["hosted_only_correct"] == len(valid) - local_right and c["local_only_correct"] == 0
    assert runs["hosted"]["serving_usd_per_1k"] > 0 and runs["local"]["serving_usd_per_1k"] > 0
    assert v["recommendation"]["sentence"]
    report = Path(v["report"]["report"])
    assert report.parent == Path(hosted_dir) and report.exists()
