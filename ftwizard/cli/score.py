"""`ftwizard score`: score a predictions file (JSON Lines with prediction and reference)."""

from __future__ import annotations

HELP = "score a predictions file (JSON Lines with prediction and reference)"

DESCRIPTION = """\
Score any predictions file the way `ftwizard eval` does. Each line is a JSON object with `prediction` and
`reference` (and, for sql, `context`: the CREATE TABLE statements execution match runs the queries on; for the
judge, `input`: the prompt the model was given, optional). Each metric with its 95% interval; * marks the one
the verdict decides on.
  sql:    execution_match*, exact_match (the seed's string match), normalized_match
  viggo:  meaning_match*, exact_match (the seed's string match), function_match, attribute_set_match, slot P/R/F1
  custom: --metric exact | choice | json | judge (default: detected from the references)
    exact   whitespace- and case-normalised equality
    choice  accuracy*, macro-F1 (bootstrap interval, seed 0), answers outside the label set; per-class
            precision / recall and the confusion table with --per-example or --json
    json    JSON match* (every field), valid JSON, field precision / recall / F1
    judge   an LLM judge at FTWIZARD_JUDGE_BASE_URL (key FTWIZARD_JUDGE_API_KEY or OPENAI_API_KEY): pass rate*,
            its agreement with exact match, calls, cache hits and cost
Bounds on untrusted input: an sql prediction over the length limit for a query, or one that runs past the time
limit, counts as a miss (its `execution_note` names the limit) and the rest of the file is scored; a line over
the per-line limit stops the file with exit 2, naming the line and the limit.
"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("score", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="sql | viggo | custom")
    p.add_argument("file", metavar="FILE.jsonl")
    p.add_argument("--metric", help="custom tasks: exact | choice | json | judge (default: auto)")
    p.add_argument("--judge-model", help="--metric judge: the judge model at FTWIZARD_JUDGE_BASE_URL")
    p.add_argument("--judge-rubric", help="--metric judge: what a passing answer is (text, or @FILE)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument("--per-example", action="store_true", help="one line per example (and the breakdown)")
    p.set_defaults(handler=run)


def _options(args) -> dict:
    """Task options from the flags; each flag that does not apply is named."""
    from pathlib import Path

    from ftwizard.errors import UsageError, did_you_mean
    from ftwizard.evaluation.custom_metrics import CUSTOM_METRICS
    from ftwizard.fsutil import read_user_text
    from ftwizard.tasks import TASKS

    if args.task not in TASKS:
        raise UsageError(f"--task {args.task}: unknown task{did_you_mean(args.task, TASKS)}; "
                         f"tasks: {', '.join(TASKS)}")
    flags = {"--metric": args.metric, "--judge-model": args.judge_model, "--judge-rubric": args.judge_rubric}
    if args.task != "custom":
        given = [k for k, v in flags.items() if v]
        if given:
            primary = TASKS[args.task]().primary_metric()
            raise UsageError(f"{', '.join(given)}: only for --task custom ({args.task} decides on {primary})")
        return {}
    if args.metric and args.metric not in CUSTOM_METRICS + ("auto",):
        raise UsageError(f"--metric {args.metric}: unknown metric{did_you_mean(args.metric, CUSTOM_METRICS)}; "
                         f"metrics: {', '.join(CUSTOM_METRICS)}")
    if (args.judge_model or args.judge_rubric) and args.metric != "judge":
        raise UsageError("--judge-model / --judge-rubric: only with --metric judge")
    rubric = args.judge_rubric
    if rubric and rubric.startswith("@"):
        rubric = read_user_text(Path(rubric[1:]).expanduser(), "--judge-rubric file")
    return {"metric": args.metric, "judge_model": args.judge_model, "judge_rubric": rubric}


def run(args) -> int:
    from ftwizard.cli import output
    from ftwizard.evaluation.score import score_file

    report = score_file(args.file, args.task, **_options(args))
    if args.json:
        if not args.per_example:
            report = {k: v for k, v in report.items() if k != "examples"}
        output.print_json(report)
        return 0
    if args.per_example:
        output.out().print(examples_table(report))
    output.out().print(metrics_table(report["metrics"], title=f"{report['task']}: {report['file']} ({report['n']} examples)",
                                     primary=report["metric"], labels=report["labels"]))
    for part in breakdown_renderables(report.get("breakdown"), full=args.per_example):
        output.out().print(part)
    return 0


def metrics_table(metrics: dict, *, title: str | None = None, baseline: dict | None = None,
                  primary: str | None = None, labels: dict | None = None):
    """A rich table of metrics with their 95% intervals (and the baseline's, with the gain, when given);
    `primary` is starred, `labels` (name -> label) fill a column."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    if labels:
        table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("95% interval", justify="right")
    table.add_column("n", justify="right")
    if baseline:
        table.add_column("baseline", justify="right")
        table.add_column("gain", justify="right")
    for name, m in metrics.items():
        cells = [name + (" *" if name == primary else "")] + ([labels.get(name, "")] if labels else [])
        cells += [f"{m['value']:.1%}", f"{m['ci_low']:.1%} - {m['ci_high']:.1%}", str(m["n"])]
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
    table.add_column("reference", overflow="fold")
    for ex in report["examples"]:
        cells = [str(ex.get("line", ""))]
        for n in names:
            v = ex["verdicts"][n]
            cells.append(("yes" if v else "no") if isinstance(v, bool) else f"{v:.2f}")
        cells += [escape(ex["prediction"]), escape(ex["reference"])]
        table.add_row(*cells)
    return table


def breakdown_renderables(breakdown: dict | None, *, full: bool) -> list:
    """What the numbers hide, for people: the choice confusion table and per-class figures (with `full`, else
    one line), invalid JSON by reason, the judge's cost, cache and agreement."""
    from rich.markup import escape
    from rich.table import Table

    from ftwizard.fmt import usd

    if not breakdown:
        return []
    out: list = []
    if breakdown.get("chosen"):
        out.append(escape(breakdown["chosen"]))
    kind = breakdown.get("kind")
    if kind == "choice":
        oos = breakdown["out_of_set"]
        if full:
            t = Table(title="per class", title_justify="left")
            for col in ("label", "support", "predicted", "precision", "recall", "F1"):
                t.add_column(col, justify="left" if col == "label" else "right")
            for c in breakdown["per_class"]:
                t.add_row(escape(c["label"]), str(c["support"]), str(c["predicted"]), f"{c['precision']:.1%}",
                          f"{c['recall']:.1%}", f"{c['f1']:.1%}")
            out.append(t)
            conf = breakdown["confusion"]
            t = Table(title="confusion (rows: reference, columns: prediction)", title_justify="left")
            t.add_column("")
            for col in conf["columns"]:
                t.add_column(escape(col), justify="right")
            for label, counts in zip(conf["rows"], conf["counts"]):
                t.add_row(escape(label), *(str(c) for c in counts))
            out.append(t)
        else:
            out.append(f"{len(breakdown['labels'])} labels; per-class figures and the confusion table: --per-example")
        if oos["count"]:
            common = ", ".join(f"{escape(repr(p))} x{k}" for p, k in oos["most_common"])
            out.append(f"{oos['count']} answer{'s' if oos['count'] != 1 else ''} outside the label set "
                       f"(counted wrong): {common}")
    elif kind == "json" and breakdown.get("invalid"):
        out.append("invalid JSON: " + ", ".join(f"{escape(k)} x{v}" for k, v in breakdown["invalid"].items()))
    elif kind == "judge":
        cost = usd(breakdown["usd"], unpriced="unpriced")
        agree = breakdown["agreement_with_exact_match"]
        kappa = breakdown["cohen_kappa"]
        out.append(f"judge {escape(breakdown['model'])}: {breakdown['calls']} calls ({cost}; "
                   f"{escape(breakdown['price_source'])}), {breakdown['cached']} answers from the cache"
                   + (f", {breakdown['unreadable']} unreadable replies (counted as fails)" if breakdown["unreadable"] else ""))
        out.append(f"agreement with exact match: {agree['value']:.1%} ({agree['ci_low']:.1%} - {agree['ci_high']:.1%})"
                   + (f", Cohen's kappa {kappa:.2f}" if kappa is not None else ""))
    for note in breakdown.get("notes", []) if full else []:
        out.append(escape(note))
    return out
