"""Batched greedy generation vs one-by-one on the tiny model (CPU): identical outputs, and the speed-up (>= 4x).

    python benchmarks/bench_generate.py [--prompts 48] [--batch-size 16] [--new-tokens 32]

The tiny Llama (2 layers, hidden 64, tokenizer trained here) gets larger random weights so that every prompt
has its own continuation; prompts are the seed's SQL eval prompts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 by default: on a shared 2-core machine two threads fight other processes)")
    args = ap.parse_args()

    import torch

    from ftwizard.evaluation.generate import generate
    from ftwizard.recipe import validate_dict
    from ftwizard.tasks import get_task
    from tests.tinymodel import load_lively, make_tiny_model

    if args.threads:
        torch.set_num_threads(args.threads)
    path = make_tiny_model(Path(tempfile.gettempdir()) / "ftwizard-bench-tiny" / "tiny-llama")
    model, tok = load_lively(path)
    recipe = validate_dict({"name": "bench", "task": "sql", "data": {"eval": "val"}})
    task = get_task("sql")
    tpl = task.templates(recipe)
    prompts = [tpl.render_prompt(r) for r in task.load_split(recipe, "eval").rows[: args.prompts]]

    generate(model, tok, prompts[:2], max_new_tokens=4, batch_size=2)  # warm-up
    t0 = time.perf_counter()
    batched = generate(model, tok, prompts, max_new_tokens=args.new_tokens, batch_size=args.batch_size)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = generate(model, tok, prompts, max_new_tokens=args.new_tokens, batch_size=1)
    t_single = time.perf_counter() - t0

    same = sum(a.text == b.text for a, b in zip(batched, single))
    tokens = sum(g.completion_tokens for g in batched)
    ratio = t_single / t_batched
    import os

    print(f"prompts: {len(prompts)}, new tokens each: {args.new_tokens}, torch threads: {torch.get_num_threads()}, "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"batched (batch {args.batch_size}): {t_batched:.2f} s  ({tokens / t_batched:,.0f} tok/s)")
    print(f"one by one:          {t_single:.2f} s  ({tokens / t_single:,.0f} tok/s)")
    print(f"identical outputs: {same}/{len(prompts)}   distinct outputs: {len({g.text for g in batched})}")
    ok = same == len(prompts) and ratio >= 4
    print(f"speed-up: {ratio:.1f}x -> {'PASS' if ok else 'FAIL'} (target: identical and >= 4x)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
