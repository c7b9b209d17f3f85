"""ftwizard's training step time against a plain transformers Trainer loop: same tiny model, same data, one process.

    python benchmarks/bench_train_overhead.py [--steps 100] [--rounds 7] [--json]

A: a plain `Trainer` (logging every step, no callbacks of ours, no checkpoints).
B: ftwizard's trainer exactly as the worker builds it (RunCallback writing metric events and status.json,
   token counting, the aside-checkpoint Trainer subclass), checkpoints off in both.
Rounds alternate A and B so that machine load hits both alike; the figure is the median ms/step of each and
the overhead (B / A - 1). Target: at most 5%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

RECIPE = '''name = "bench"
task = "viggo"
[data]
limit_train = 256
limit_eval = 8
[prompt]
template = """
{{target}} => {{meaning_representation}}
"""
answer_field = "meaning_representation"
[model]
base = "{model}"
dtype = "fp32"
[lora]
r = 8
alpha = 16
dropout = 0.0
target_modules = ["all-linear"]
[train]
max_length = 64
micro_batch_size = 4
grad_accum = 1
max_steps = {steps}
warmup_steps = 0
lr = 1e-3
logging_steps = 1
eval_every = 0
save_every = 0
group_by_length = false
loss_on = "answer"
[hardware]
device = "cpu"
price_per_hour = 0.05
[eval]
enabled = false
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from ftwizard.backends.local import data as D
    from ftwizard.backends.local.modeling import load_for_training
    from ftwizard.backends.local.worker import Worker
    from ftwizard.runs.directory import RunDirectory
    from tests.tinymodel import make_tiny_model

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tmp = Path(tempfile.mkdtemp(prefix="ftw-bench-"))
    model_dir = make_tiny_model(tmp / "tiny")
    text = RECIPE.format(model=model_dir, steps=a.steps)

    def data(recipe, tok):
        templates, split, _ = D.load_rows(recipe)
        ex, st = D.build_examples(recipe, tok, split.rows, templates)
        return ex, st

    def plain() -> float:
        run = RunDirectory.create(tmp / "runs", "plain", text)
        recipe = run.recipe()
        set_seed(0)
        model, tok = load_for_training(recipe)
        ex, _ = data(recipe, tok)
        args = TrainingArguments(output_dir=str(run.checkpoints_dir), max_steps=a.steps, per_device_train_batch_size=4,
                                 learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to="none",
                                 optim=recipe.train.optimizer, lr_scheduler_type=recipe.train.lr_scheduler,
                                 disable_tqdm=True, use_cpu=True, remove_unused_columns=False, seed=0,
                                 log_level="error")
        tr = Trainer(model=model, args=args, train_dataset=ex, data_collator=D.Collator(tok.pad_token_id))
        t0 = time.perf_counter()
        tr.train()
        return (time.perf_counter() - t0) / a.steps

    def ours() -> float:
        run = RunDirectory.create(tmp / "runs", "ftw", text)
        w = Worker(run.path)
        recipe = w.recipe
        set_seed(0)
        model, tok = load_for_training(recipe)
        ex, st = data(recipe, tok)
        tr, _cb = w._trainer(model, tok, ex, [], st)
        tr.args.log_level = "error"
        t0 = time.perf_counter()
        tr.train()
        dt = (time.perf_counter() - t0) / a.steps
        n = len([e for e in run.events(("metric",))])
        assert n == a.steps, n  # it really reported every step
        return dt

    def probe() -> float:
        """The memory probe before step 1 (longest batch forward/backward + one eval-sized forward), in seconds."""
        from ftwizard.backends.local.probe import run_probe

        run = RunDirectory.create(tmp / "runs", "probe", text)
        w = Worker(run.path)
        model, tok = load_for_training(w.recipe)
        ex, st = data(w.recipe, tok)
        tr, _cb = w._trainer(model, tok, ex, [], st)
        prompts = [e["input_ids"][:32] for e in ex[:64]]
        return run_probe(tr, tr.data_collator, ex, device="cpu", context_gib=0.0, eval_prompts_ids=prompts,
                         eval_batch_size=16, max_new_tokens=64, pad_token_id=tok.pad_token_id).seconds

    plain(), ours()  # warm-up: first-call costs (imports, allocator) out of the figures
    res_a, res_b = [], []
    for _ in range(a.rounds):
        res_a.append(plain())
        res_b.append(ours())
    ma, mb = statistics.median(res_a), statistics.median(res_b)
    probe_s = statistics.median(probe() for _ in range(3))
    out = {"steps": a.steps, "rounds": a.rounds, "plain_ms_per_step": round(ma * 1e3, 2),
           "probe_ms": round(probe_s * 1e3, 2), "probe_in_steps": round(probe_s / mb, 2),
           "ftwizard_ms_per_step": round(mb * 1e3, 2), "overhead_pct": round((mb / ma - 1) * 100, 2),
           "plain_all_ms": [round(x * 1e3, 2) for x in res_a], "ftwizard_all_ms": [round(x * 1e3, 2) for x in res_b],
           "cpu_count": os.cpu_count(), "load_avg": os.getloadavg()[0]}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"plain Trainer : {out['plain_ms_per_step']:.2f} ms/step  {out['plain_all_ms']}")
        print(f"ftwizard      : {out['ftwizard_ms_per_step']:.2f} ms/step  {out['ftwizard_all_ms']}")
        print(f"overhead      : {out['overhead_pct']:+.2f}%  (target <= 5%; load average {out['load_avg']:.1f})")
        print(f"memory probe  : {out['probe_ms']:.1f} ms once before step 1 (= {out['probe_in_steps']:.1f} steps)")


if __name__ == "__main__":
    main()
