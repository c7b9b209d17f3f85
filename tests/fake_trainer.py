"""A fake trainer process: writes a run directory's status and events the way the real workers do.

Used by the wizard's tests and benchmarks, which need a real separate process streaming a run directory
without torch. `python tests/fake_trainer.py RUN_DIR [--steps N] [--step-time S] [--log-rate L] ...`
On SIGTERM it marks the run `cancelled` like the real local worker.

`FakeLauncher` launches it detached (a new session, like `backend.start(..., detach=True)`) and is what
the tests hand to the wizard instead of the real backends.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ftwizard.fsutil import atomic_write_json  # noqa: E402
from ftwizard.runs.directory import RunDirectory  # noqa: E402


def _loss(step: int, seed: float) -> float:
    return round(0.35 + 2.2 * math.exp(-step / 12.0) + 0.04 * math.sin(step * 1.7 + seed), 4)


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--step-time", type=float, default=0.05, help="seconds per training step")
    p.add_argument("--log-rate", type=float, default=0.0, help="extra log lines per second while training")
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--fail-at", type=int, default=0, help="fail with an OOM error at this step")
    p.add_argument("--hold", type=float, default=0.0, help="sleep this long before finishing (tests cancel here)")
    p.add_argument("--wait-at", type=int, default=0,
                   help="before this step, wait until the file --gate names exists (tests that must see a live run)")
    p.add_argument("--gate", default="")
    p.add_argument("--price-per-hour", type=float, default=0.475)
    p.add_argument("--accuracy", type=float, default=0.8)
    p.add_argument("--training-usd", type=float, default=None, help="fixed training cost (default: time x price)")
    p.add_argument("--baseline-accuracy", type=float, default=None,
                   help="also score the untuned model (eval.baseline): paired per-example verdicts for both")
    p.add_argument("--eval-n", type=int, default=20, help="eval examples scored")
    a = p.parse_args(argv)

    run = RunDirectory(a.run_dir)
    recipe_text = run.recipe_path.read_text(encoding="utf-8") if run.recipe_path.exists() else ""
    hosted = 'backend = "hosted"' in recipe_text
    cancelled = {"flag": False}

    def on_term(_sig, _frm):
        cancelled["flag"] = True

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.time()
    fields = {"state": "running", "backend": "hosted" if hosted else "local", "total_steps": a.steps, "step": 0,
              "pid": os.getpid(), "pgid": os.getpgid(0), "host": socket.gethostname()}
    if hosted:
        fields.update(provider="openai", job_id="ftjob-fake0001", job_status="running")
    run.update_status(**fields)
    run.append_event("status", state="running", detail="running" if hosted else None)
    run.log("fake trainer: starting", source="worker")
    if hosted:
        run.log("uploaded training file file-fake1 (validating_files -> queued -> running)", source="openai")
    else:
        run.log("loaded model tiny-fake (2 layers, hidden 64) on cpu", source="worker")
    seed = random.random()
    next_log = time.time()
    n_lines = 0
    for step in range(1, a.steps + 1):
        while step == a.wait_at and not os.path.exists(a.gate) and not cancelled["flag"]:
            time.sleep(0.02)
        end = time.time() + a.step_time
        while True:
            if cancelled["flag"]:
                run.log(f"cancel requested: stopping at step {step - 1}", level="warning", source="worker")
                run.update_status(state="cancelled", step=step - 1)
                run.append_event("status", state="cancelled")
                return 130
            now = time.time()
            if a.log_rate > 0:
                due = int((now - next_log) * a.log_rate)
                if due > 0:
                    fd = os.open(run.events_path, os.O_WRONLY | os.O_APPEND)
                    try:
                        chunk = "".join(json.dumps({"t": round(now, 3), "type": "log", "text": f"batch {n_lines + i}: "
                                                    f"tokens=1024 loss~{_loss(step, seed)}", "source": "worker"}) + "\n"
                                        for i in range(due))
                        os.write(fd, chunk.encode())
                    finally:
                        os.close(fd)
                    n_lines += due
                    next_log += due / a.log_rate
            if now >= end:
                break
            time.sleep(min(0.01, end - now))
        if a.fail_at and step >= a.fail_at:
            run.append_event("error", message="CUDA out of memory (fake)", kind="oom",
                             advice=["lower train.micro_batch_size", "use model.quant = '4bit'"])
            run.update_status(state="failed", step=step, error="CUDA out of memory (fake)")
            run.append_event("status", state="failed")
            return 1
        elapsed = time.time() - t0
        metric = {"step": step, "max_steps": a.steps, "loss": _loss(step, seed), "lr": 3e-4 * (1 - step / a.steps),
                  "epoch": round(step / a.steps, 3), "elapsed_s": round(elapsed, 3),
                  "eta_s": round(elapsed / step * (a.steps - step), 2),
                  "cost_usd": round(elapsed / 3600 * a.price_per_hour, 6)}
        if not hosted:
            metric.update(tokens_per_s=2048.0, gpu_mem_gb=1.25)
        if a.eval_every and step % a.eval_every == 0:
            metric["eval_loss"] = round(_loss(step, seed) + 0.1, 4)
        run.append_event("metric", **metric)
        run.update_status(step=step)
        if step % 10 == 0:
            run.log(f"step {step}/{a.steps} loss {metric['loss']}", source="worker")
    if a.hold:
        end = time.time() + a.hold
        while time.time() < end:
            if cancelled["flag"]:
                run.update_status(state="cancelled", step=a.steps)
                run.append_event("status", state="cancelled")
                return 130
            time.sleep(0.02)
    # Evaluation, as the worker does at the end.
    import re

    n = a.eval_n
    task = (re.search(r'^task = "([^"]+)"', recipe_text, re.M) or [None, "viggo"])[1]
    run.append_event("eval", phase="start", done=0, total=n, which="finetuned")
    run.append_event("eval", phase="done", done=n, total=n, which="finetuned", exact_match=a.accuracy)
    k = round(a.accuracy * n)
    lo, hi = max(0.0, a.accuracy - 0.17), min(1.0, a.accuracy + 0.12)
    metrics = {"task": task, "n": n, "model": "fake", "backend": "hosted" if hosted else "local",
               "metrics": {"exact_match": {"n": n, "value": k / n, "ci_low": lo, "ci_high": hi}},
               "evaluated_at": time.time()}
    if a.baseline_accuracy is not None:  # the untuned model right on a subset of what the tuned one gets right
        kb = min(k, round(a.baseline_accuracy * n))
        metrics["baseline"] = {"exact_match": {"n": n, "value": kb / n, "ci_low": max(0.0, kb / n - 0.17),
                                               "ci_high": min(1.0, kb / n + 0.17)}}
        for path, right in ((run.predictions_path, k), (run.path / "predictions_baseline.jsonl", kb)):
            path.write_text("".join(json.dumps({"index": i, "input": f"example {i}", "raw": "x", "prediction": "x",
                                                "reference": f"label {i}", "verdicts": {"exact_match": i < right},
                                                "prompt_tokens": 40, "completion_tokens": 3}) + "\n"
                                    for i in range(n)))
    atomic_write_json(run.metrics_path, metrics)
    hours = (time.time() - t0) / 3600
    usd = a.training_usd if a.training_usd is not None else (round(hours * a.price_per_hour, 6) if not hosted else 1.23)
    cost = {"training_usd": usd,
            "training_kind": "actual" if not hosted else "estimated", "hours": hours,
            "price_per_hour": a.price_per_hour, "gpu": "cpu", "eval_usd": 0.0,
            "price_source": "fake", "price_date": "2026-11-01"}
    atomic_write_json(run.cost_path, cost)
    run.append_event("cost", usd=cost["training_usd"], kind=cost["training_kind"], what="training")
    run.log("fake trainer: done", source="worker")
    run.update_status(state="succeeded", step=a.steps)
    run.append_event("status", state="succeeded")
    return 0


class FakeLauncher:
    """Launches tests/fake_trainer.py for a recipe, detached, like a backend's `start(detach=True)`."""

    def __init__(self, *args: str, env: dict | None = None):
        self.args = list(args)
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def preflight(self, recipe) -> None:
        return None

    def launch(self, recipe, runs_dir) -> RunDirectory:
        run = RunDirectory.create(runs_dir, recipe.name, recipe.to_toml())
        run.update_status(backend=recipe.backend)
        proc = subprocess.Popen([sys.executable, __file__, str(run.path), *self.args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, env=self.env)
        self.procs.append(proc)  # the trainer records its own pid in status.json (one writer at a time)
        return run

    def cancel(self, run: RunDirectory) -> None:
        pid = run.status().get("pid") or next((p.pid for p in self.procs if run.path.name in " ".join(p.args)), None)
        if pid:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass

    def is_alive(self, run: RunDirectory) -> bool:
        pid = run.status().get("pid")
        for p in self.procs:
            if p.pid == pid:
                return p.poll() is None
        return False

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)


def main(argv=None) -> int:
    """The fake worker's run, in this process or its own; its SIGTERM handler is put back when it returns (in a
    test's process it would otherwise outlive the run)."""
    old = signal.getsignal(signal.SIGTERM)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, old)

if __name__ == "__main__":
    sys.exit(main())
