"""`ftwizard prepare` on the full ViGGO and SQL recipes: wall time of the whole command (target: < 3 s).

Usage: python benchmarks/bench_prepare.py [--repeat 5]
Each run is a fresh process (`python -m ftwizard prepare ...`), so import and start-up costs are included.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 3.0


def time_prepare(recipe: str, repeat: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "ftwizard", "prepare", recipe, "--out", f"{tmp}/o{i}"],
                               cwd=REPO, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if p.returncode != 0:
                raise SystemExit(f"prepare failed: {p.stderr}")
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    worst = 0.0
    for recipe in ("recipes/viggo-gpt35.toml", "recipes/viggo-codellama34b-lora.toml", "recipes/sql-gpt35.toml"):
        t = time_prepare(recipe, args.repeat)
        med = statistics.median(t)
        worst = max(worst, med)
        print(f"{recipe:40s} median {med:5.2f} s  (min {min(t):.2f}, max {max(t):.2f}, n={len(t)})")
    ok = worst < TARGET_S
    print(f"target < {TARGET_S:.1f} s per prepare: {'PASS' if ok else 'FAIL'} (worst median {worst:.2f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
