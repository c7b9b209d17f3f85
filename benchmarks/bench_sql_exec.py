"""Execution match on the seed's 568 SQL eval pairs (target: each pass < 3 s) and on the hand-labelled pairs.

    python benchmarks/bench_sql_exec.py [--databases 4] [--repeats 3] [--old-ref GIT-REF]

1. Timing: gold vs gold and gold vs perturbed, each from cold caches, `--repeats` times (min and median).
   Perturbations are the near misses a model makes: another comparison (`>` -> `>=`), another constant, a missing
   DISTINCT, the other ORDER BY direction, another aggregate, COUNT(col) for COUNT(*), another column. A good
   execution match accepts every gold query and rejects nearly every perturbed one (a few perturbations are
   truly equivalent, e.g. DISTINCT on a single COUNT(*)).
2. Agreement with the hand labels in `tests/data/sql_labelled_pairs.py` (the pairs by category, and the held-out
   pairs), for this method and for the previous one (the single-module `sql_metrics.py` read from git at
   `--old-ref`, default: the last commit that has it), side by side in one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ftwizard.evaluation import sql_metrics  # noqa: E402
from ftwizard.evaluation.sql_metrics import execution_match_detail, parse_context  # noqa: E402
from ftwizard.tasks.base import DATA_DIR  # noqa: E402

OLD_PATH = "ftwizard/evaluation/sql_metrics.py"


def perturb(sql: str, context: str) -> tuple[str, str]:
    """(kind, perturbed query) - the first change that applies."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="mysql")
    flips = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT}
    for node in tree.find_all(*flips):
        node.replace(flips[type(node)](this=node.this.copy(), expression=node.expression.copy()))
        return "comparison", tree.sql(dialect="mysql")
    for lit in tree.find_all(exp.Literal):
        if isinstance(lit.parent, (exp.Limit, exp.Offset)):
            continue
        if lit.is_string:
            lit.replace(exp.Literal.string(lit.this + "x"))
        else:
            lit.replace(exp.Literal.number(str(float(lit.this) + 1)))
        return "constant", tree.sql(dialect="mysql")
    sel = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if sel is not None and sel.args.get("distinct"):
        sel.set("distinct", None)
        return "distinct", tree.sql(dialect="mysql")
    order = tree.args.get("order")
    if order is not None:
        first = order.expressions[0]
        first.set("desc", not first.args.get("desc"))
        return "order_direction", tree.sql(dialect="mysql")
    swaps = {exp.Max: exp.Min, exp.Min: exp.Max, exp.Avg: exp.Max, exp.Sum: exp.Avg}
    for node in tree.find_all(*swaps):
        node.replace(swaps[type(node)](this=node.this.copy()))
        return "aggregate", tree.sql(dialect="mysql")
    names = [c.name for t in parse_context(context).values() for c in t]
    for node in tree.find_all(exp.Count):
        if isinstance(node.this, exp.Star) and names:
            node.set("this", exp.column(names[0]))
            return "count_column", tree.sql(dialect="mysql")
    if sel is not None:
        cols = [c for c in sel.expressions if isinstance(c, exp.Column)]
        for c in cols:
            other = next((n for n in names if n.lower() != c.name.lower()), None)
            if other:
                c.set("this", exp.to_identifier(other))
                return "column", tree.sql(dialect="mysql")
    return "none", sql


def old_module(ref: str | None):
    """The single-module execution match from git (`ref`, else the last commit holding OLD_PATH), or None."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)

    if ref is None:
        for commit in git("log", "--format=%H", "--", OLD_PATH).stdout.split():
            if git("cat-file", "-e", f"{commit}:{OLD_PATH}").returncode == 0:
                ref = commit
                break
    if ref is None:
        return None, None
    source = git("show", f"{ref}:{OLD_PATH}")
    if source.returncode != 0:
        return None, ref
    path = Path(tempfile.mkdtemp()) / "old_sql_metrics.py"
    path.write_text(source.stdout)
    spec = importlib.util.spec_from_file_location("old_sql_metrics", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_sql_metrics"] = module
    spec.loader.exec_module(module)
    return module, ref


def old_cold(module) -> None:
    for name in ("_prepare_query", "_parse_shared", "parse_context"):
        if hasattr(module, name):
            getattr(module, name).cache_clear()


def timed_pass(match, pairs, cold) -> tuple[float, float, list]:
    """(wall seconds, CPU seconds of this process, results): CPU time shows the cost apart from other load."""
    cold()
    t0, c0 = time.perf_counter(), time.process_time()
    results = [match(pred, gold, ctx) for pred, gold, ctx in pairs]
    return time.perf_counter() - t0, time.process_time() - c0, results


def agreement(match, labelled) -> tuple[int, Counter, Counter, list]:
    right, by_cat, n_cat, wrong = 0, Counter(), Counter(), []
    for p in labelled:
        ok = match(p["prediction"], p["gold"], p["context"]).match == p["label"]
        right += ok
        by_cat[p["category"]] += ok
        n_cat[p["category"]] += 1
        if not ok:
            wrong.append(p)
    return right, by_cat, n_cat, wrong


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--databases", type=int, default=None, help="test databases per pair (default: the metric's)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--old-ref", default=None, help="git ref of the previous single-module sql_metrics.py")
    args = ap.parse_args()
    rows = [json.loads(x) for x in open(DATA_DIR / "sql-create-context/spider_create_context_val.jsonl")]
    import sqlglot  # noqa: F401 - import time is not scoring time

    kw = {} if args.databases is None else {"databases": args.databases}

    def new_match(pred, gold, ctx):
        return execution_match_detail(pred, gold, ctx, **kw)

    perturbed = [perturb(r["answer"], r["context"]) for r in rows]
    same_pairs = [(r["answer"], r["answer"], r["context"]) for r in rows]
    diff_pairs = [(p, r["answer"], r["context"]) for (_, p), r in zip(perturbed, rows)]
    t_same, t_diff, c_same, c_diff = [], [], [], []
    for _ in range(args.repeats):
        t, c, same = timed_pass(new_match, same_pairs, sql_metrics.clear_caches)
        t_same.append(t)
        c_same.append(c)
        t, c, diff = timed_pass(new_match, diff_pairs, sql_metrics.clear_caches)
        t_diff.append(t)
        c_diff.append(c)

    n = len(rows)
    kinds = Counter(k for k, _ in perturbed)
    still = Counter(k for (k, _), d in zip(perturbed, diff) if d.match)
    print(f"pairs: {n}, databases per pair: {args.databases or sql_metrics.execution.DEFAULT_DATABASES}, "
          f"{args.repeats} runs each")
    print(f"gold vs gold:      {sum(s.match for s in same)}/{n} match   min {min(t_same):.2f} s, "
          f"median {statistics.median(t_same):.2f} s (CPU min {min(c_same):.2f} s)  "
          f"({Counter(s.reason for s in same).most_common()})")
    print(f"gold vs perturbed: {sum(d.match for d in diff)}/{n} match   min {min(t_diff):.2f} s, "
          f"median {statistics.median(t_diff):.2f} s (CPU min {min(c_diff):.2f} s)  "
          f"({Counter(d.reason for d in diff).most_common()})")
    print("perturbations (still matching / made): " + ", ".join(f"{k} {still[k]}/{v}" for k, v in kinds.most_common()))

    from tests.data.sql_labelled_pairs import HOLDOUT, HOLDOUT2, PAIRS

    methods = [("new", execution_match_detail)]
    old, ref = old_module(args.old_ref)
    if old is not None:
        methods.insert(0, (f"old ({ref[:10]})", old.execution_match_detail))
        t_old_same, c_old_same, old_same = timed_pass(lambda p, g, c: old.execution_match_detail(p, g, c),
                                                      same_pairs, lambda: old_cold(old))
        t_old_diff, c_old_diff, old_diff = timed_pass(lambda p, g, c: old.execution_match_detail(p, g, c),
                                                      diff_pairs, lambda: old_cold(old))
        print(f"old method, same data (one run): gold vs gold {sum(s.match for s in old_same)}/{n} in "
              f"{t_old_same:.2f} s (CPU {c_old_same:.2f} s); gold vs perturbed {sum(d.match for d in old_diff)}/{n} "
              f"still match, {t_old_diff:.2f} s (CPU {c_old_diff:.2f} s)")
        old_still = Counter(k for (k, _), d in zip(perturbed, old_diff) if d.match)
        print("old method, perturbations (still matching / made): "
              + ", ".join(f"{k} {old_still[k]}/{v}" for k, v in kinds.most_common()))
    else:
        print(f"old method: not found in git ({OLD_PATH} at {ref or 'any commit'})")
    for title, pairs in (("by category", PAIRS), ("held out", HOLDOUT), ("held out, second batch", HOLDOUT2)):
        cats = list(dict.fromkeys(p["category"] for p in pairs))
        print(f"\nagreement with the hand labels, {title} ({len(pairs)} pairs: {sum(p['label'] for p in pairs)} "
              f"correct, {sum(not p['label'] for p in pairs)} wrong)")
        print(f"{'method':<18}{'all':>12}  " + "  ".join(f"{c:>11}" for c in cats))
        wrong_lists = {}
        for name, match in methods:
            right, by_cat, n_cat, wrong = agreement(match, pairs)
            wrong_lists[name] = wrong
            print(f"{name:<18}{right:>4}/{len(pairs)} {right / len(pairs):6.1%}  "
                  + "  ".join(f"{by_cat[c]:>5}/{n_cat[c]:<5}" for c in cats))
        for name, wrong in wrong_lists.items():
            for p in wrong:
                print(f"  {name} misjudges [{p['category']}] label={p['label']}: {p['why']}: {p['prediction'][:80]}")
    ok = max(statistics.median(t_same), statistics.median(t_diff)) < 3
    print(f"\nexecution match, median pass: {max(statistics.median(t_same), statistics.median(t_diff)):.2f} s "
          f"for {n} pairs -> {'PASS' if ok else 'FAIL'} (target: 568 pairs < 3 s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
