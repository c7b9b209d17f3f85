"""Scoring the seed's 568 SQL eval pairs with execution match: gold vs gold and gold vs perturbed (target < 10 s).

    python benchmarks/bench_sql_exec.py [--databases 4]

Perturbations are the near misses a model makes: another comparison (`>` -> `>=`), another constant, a missing
DISTINCT, a missing ORDER BY or the other direction, another aggregate, COUNT(col) for COUNT(*), another
column. A good execution match accepts every gold
query and rejects nearly every perturbed one (a few perturbations are truly equivalent, e.g. DISTINCT on a
single COUNT(*)).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftwizard.evaluation import sql_metrics  # noqa: E402
from ftwizard.evaluation.sql_metrics import execution_match_detail, normalized_match, parse_context  # noqa: E402


def cold() -> None:
    """Forget parsed queries and schemas, so each pass is timed from scratch."""
    sql_metrics._prepare_query.cache_clear()
    sql_metrics._parse_shared.cache_clear()
    sql_metrics.parse_context.cache_clear()
from ftwizard.tasks.base import DATA_DIR  # noqa: E402


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--databases", type=int, default=4)
    args = ap.parse_args()
    rows = [json.loads(x) for x in open(DATA_DIR / "sql-create-context/spider_create_context_val.jsonl")]
    import sqlglot  # noqa: F401 - import time is not scoring time

    cold()
    t0 = time.perf_counter()
    same = [execution_match_detail(r["answer"], r["answer"], r["context"], databases=args.databases) for r in rows]
    t_same = time.perf_counter() - t0

    perturbed = [perturb(r["answer"], r["context"]) for r in rows]
    cold()
    t0 = time.perf_counter()
    diff = [execution_match_detail(p, r["answer"], r["context"], databases=args.databases)
            for (_, p), r in zip(perturbed, rows)]
    t_diff = time.perf_counter() - t0

    cold()
    t0 = time.perf_counter()
    norm_same = sum(normalized_match(r["answer"], r["answer"], r["context"]) for r in rows)
    t_norm = time.perf_counter() - t0

    n = len(rows)
    kinds = Counter(k for k, _ in perturbed)
    still = Counter(k for (k, _), d in zip(perturbed, diff) if d.match)
    print(f"pairs: {n}, databases per pair: {args.databases}")
    print(f"gold vs gold:      {sum(s.match for s in same)}/{n} match   {t_same:.2f} s  "
          f"({Counter(s.reason for s in same).most_common()})")
    print(f"gold vs perturbed: {sum(d.match for d in diff)}/{n} match   {t_diff:.2f} s  "
          f"({Counter(d.reason for d in diff).most_common()})")
    print("perturbations (still matching / made): " + ", ".join(f"{k} {still[k]}/{v}" for k, v in kinds.most_common()))
    print(f"normalized match gold vs gold: {norm_same}/{n}   {t_norm:.2f} s")
    total = t_same + t_diff
    print(f"execution match, both passes: {total:.2f} s for {2 * n} pairs -> {'PASS' if max(t_same, t_diff) < 10 else 'FAIL'}"
          " (target: 568 pairs < 10 s)")
    return 0 if max(t_same, t_diff) < 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
