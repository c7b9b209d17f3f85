"""How fast is `ftwizard estimate`? Target: under 0.5 s per call, no torch import.

Runs the real command in fresh processes (cold token-statistics cache first, then warm), side by side with a
bare `python -c pass` and `ftwizard --help` start-up, and reports wall and CPU time. Usage:
    python benchmarks/bench_estimate.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {res.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FTWIZARD_CACHE_DIR": cache}
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "ftwizard --help": [py, "-m", "ftwizard", "--help"],
            "estimate sql (warm)": [py, "-m", "ftwizard", "estimate", "sql-codellama34b-lora", "--json"],
            "estimate viggo what-if (warm)": [py, "-m", "ftwizard", "estimate", "viggo-codellama34b-lora",
                                              "--gpu", "H100", "--quant", "4bit", "--epochs", "2", "--json"],
            "estimate no recipe": [py, "-m", "ftwizard", "estimate", "--model", "meta-llama/Llama-3.1-8B",
                                   "--examples", "20000", "--tokens-per-example", "300", "--json"],
        }
        cold = {name: timed(cmd, env) for name, cmd in
                (("estimate sql (cold cache)", cases["estimate sql (warm)"]),
                 ("estimate viggo (cold cache)", cases["estimate viggo what-if (warm)"]))}
        rows = [(name, [w], [c]) for name, (w, c) in cold.items()]
        for name, cmd in cases.items():
            walls, cpus = [], []
            for _ in range(args.repeat):
                w, c = timed(cmd, env)
                walls.append(w)
                cpus.append(c)
            rows.append((name, walls, cpus))
        code = ("import sys; from ftwizard.cli.main import main; main(['estimate','sql-codellama34b-lora','--json']);"
                "print([m for m in ('torch','transformers','peft','datasets') if m in sys.modules], file=sys.stderr)")
        heavy = subprocess.run([py, "-c", code], capture_output=True, text=True, env=env, cwd=REPO).stderr
        inproc = subprocess.run([py, "-c", (
            "import time, statistics; from ftwizard.recipe import load_recipe; "
            "from ftwizard.estimate import estimate_recipe; r = load_recipe('recipes/sql-codellama34b-lora.toml'); "
            "estimate_recipe(r); ts = []\n"
            "for _ in range(20):\n t = time.perf_counter(); estimate_recipe(r); ts.append(time.perf_counter() - t)\n"
            "print(f'{statistics.median(ts):.4f}')")], capture_output=True, text=True, env=env, cwd=REPO).stdout
    print(f"estimate_recipe() in process, warm cache: {float(inproc):.4f} s median of 20")
    print(f"{'case':34} {'wall median':>12} {'wall min':>9} {'cpu median':>11}")
    for name, walls, cpus in rows:
        print(f"{name:34} {statistics.median(walls):11.3f}s {min(walls):8.3f}s {statistics.median(cpus):10.3f}s")
    print(f"heavy modules imported by estimate: {heavy.strip().splitlines()[-1]}")
    warm = [(statistics.median(w), statistics.median(c)) for n, w, c in rows if "warm" in n or "no recipe" in n]
    worst_wall, worst_cpu = max(w for w, _ in warm), max(c for _, c in warm)
    print(f"target < 0.5 s per warm call: wall {'met' if worst_wall < 0.5 else 'NOT met'} (worst {worst_wall:.3f} s), "
          f"CPU {'met' if worst_cpu < 0.5 else 'NOT met'} (worst {worst_cpu:.3f} s); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall > CPU means other processes share the cores)")


if __name__ == "__main__":
    main()
