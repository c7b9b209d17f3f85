"""How long the verdict takes: `build_verdict`, the faces (rich, markdown), the report with its two PNGs, and
the whole `ftwizard compare` command, on the seed's run pairs and on a large pair (5,000 eval examples each).

    python benchmarks/bench_compare.py

Run directories are written by tests/fixtures_runs.py (the same files the backends write). The verdict must
not import torch / transformers / peft / datasets: the script checks that too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fixtures_runs import paired_outcomes, seed_sql_pair, seed_viggo_pair, write_run  # noqa: E402


def best_of(fn, n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> int:
    from rich.console import Console

    from ftwizard.report import write_report
    from ftwizard.verdict import build_verdict
    from ftwizard.verdict.render import to_markdown, to_rich

    heavy = [m for m in ("torch", "transformers", "peft", "datasets") if m in sys.modules]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = {"seed sql (568)": seed_sql_pair(tmp / "sql"), "seed viggo (1,083)": seed_viggo_pair(tmp / "viggo")}
        h, l = paired_outcomes(5000, both=3600, a_only=300, b_only=250, seed=9)
        cases["custom large (5,000)"] = (
            write_run(tmp / "big", "", recipe_text=_big_recipe(tmp, "hosted"), verdicts=h, training_usd=40.0,
                      trained_tokens=4_000_000, steps=2000),
            write_run(tmp / "big", "", recipe_text=_big_recipe(tmp, "local"), verdicts=l, training_usd=6.0,
                      gpu="L4", price_per_hour=0.44, steps=2000))
        print(f"{'case':<22} {'build_verdict':>14} {'to_rich':>9} {'markdown':>9} {'report+PNGs':>12} {'CLI --json':>11}")
        for name, (hosted, local) in cases.items():
            dirs = [hosted.path, local.path]
            t_build, v = best_of(lambda: build_verdict(dirs, today=date(2023, 10, 1)))
            console = Console(width=120, file=open(os.devnull, "w"))
            t_rich, _ = best_of(lambda: console.print(to_rich(v)))
            t_md, _ = best_of(lambda: to_markdown(v))
            t_rep, _ = best_of(lambda: write_report(v, tmp / "rep" / "report.md"), n=3)
            env = dict(os.environ, PYTHONPATH=str(REPO))
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "ftwizard", "compare", *map(str, dirs), "--json", "--no-report",
                                "--as-of", "2023-10-01"], capture_output=True, text=True, env=env)
            t_cli = time.perf_counter() - t0
            assert p.returncode == 0, p.stderr
            json.loads(p.stdout)
            print(f"{name:<22} {t_build * 1000:>11.0f} ms {t_rich * 1000:>6.0f} ms {t_md * 1000:>6.0f} ms "
                  f"{t_rep * 1000:>9.0f} ms {t_cli * 1000:>8.0f} ms")
    heavy_after = [m for m in ("torch", "transformers", "peft", "datasets") if m in sys.modules]
    print(f"heavy modules imported by the verdict and report: {heavy_after or 'none'}"
          + (f" (already before: {heavy})" if heavy else ""))
    return 1 if heavy_after else 0


def _big_recipe(tmp: Path, backend: str) -> str:
    from tests.fixtures_runs import IMPORTED_RECIPE, write_chat_data

    data = tmp / "big-data"
    if not (data / "eval.jsonl").exists():
        write_chat_data(data, n_train=100, n_eval=5000)
    return IMPORTED_RECIPE.format(dir=data, name=f"big-{backend}", backend=backend)


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    sys.exit(main())
