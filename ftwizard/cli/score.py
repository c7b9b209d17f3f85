"""`ftwizard score`: score a predictions file (JSON Lines with prediction and reference)."""

from __future__ import annotations

HELP = "score a predictions file (JSON Lines with prediction and reference)"

DESCRIPTION = """\
Score any predictions file the way `ftwizard eval` does. Each line is a JSON object with `prediction` and
`reference` (and, for sql, `context`: the CREATE TABLE statements execution match runs the queries on).
sql: exact_match, normalized_match, execution_match. viggo: exact_match, function_match, attribute_set_match,
slot precision / recall / F1. Each metric with its 95% interval.
"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("score", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=["sql", "viggo"])
    p.add_argument("file", metavar="FILE.jsonl")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument("--per-example", action="store_true", help="one line per example")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ftwizard.cli import output
    from ftwizard.evaluation.score import score_file

    report = score_file(args.file, args.task)
    if args.json:
        if not args.per_example:
            report = {k: v for k, v in report.items() if k != "examples"}
        output.print_json(report)
        return 0
    if args.per_example:
        output.out().print(examples_table(report))
    output.out().print(metrics_table(report["metrics"], title=f"{report['task']}: {report['file']} ({report['n']} examples)"))
    return 0


def metrics_table(metrics: dict, *, title: str | None = None, baseline: dict | None = None):
    """A rich table of metrics with their 95% intervals (and the baseline's, with the gain, when given)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% interval", justify="right")
    table.add_column("n", justify="right")
    if baseline:
        table.add_column("baseline", justify="right")
        table.add_column("gain", justify="right")
    for name, m in metrics.items():
        cells = [name, f"{m['value']:.1%}", f"{m['ci_low']:.1%} - {m['ci_high']:.1%}", str(m["n"])]
        if baseline:
            b = baseline.get(name)
            cells += [f"{b['value']:.1%}", f"{m['value'] - b['value']:+.1%}"] if b else ["", ""]
        table.add_row(*cells)
    return table


def examples_table(report: dict):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="per example", title_justify="left")
    table.add_column("line", justify="right")
    names = list(report["examples"][0]["verdicts"]) if report["examples"] else []
    for n in names:
        table.add_column(n)
    table.add_column("prediction", overflow="fold")
    for ex in report["examples"]:
        cells = [str(ex.get("line", ""))]
        for n in names:
            v = ex["verdicts"][n]
            cells.append(("yes" if v else "no") if isinstance(v, bool) else f"{v:.2f}")
        cells.append(escape(ex["prediction"]))
        table.add_row(*cells)
    return table
