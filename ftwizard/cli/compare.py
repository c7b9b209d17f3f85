"""`ftwizard compare`: the verdict: compare runs on accuracy and cost, and recommend one way."""

from __future__ import annotations

HELP = "the verdict: compare runs on accuracy and cost"
DESCRIPTION = """\
Line up finished runs (local and hosted, including imported OpenAI jobs): each accuracy metric with its 95%
interval, training cost (actual, or estimated where none was recorded), wall time, serving cost per 1,000
requests at your volume, availability of the hosted path; then the best hosted run against the best local run
with an exact McNemar test on the shared eval examples and its exact 95% interval, the cost ratios and the
break-even volume - and one recommendation with its reasons. It moves you to the local model only when it is
within --margin points of hosted on the task's deciding metric (or hosted no longer serves); otherwise it keeps
the better model and names the next local run. Writes report.md with two PNGs (in the first run's directory,
or --report).
"""


def register(sub) -> None:
    p = sub.add_parser("compare", help=HELP, description=DESCRIPTION)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--requests-per-month", type=int, metavar="N",
                   help="serving volume for the cost figures (default: the first run's eval.requests_per_month)")
    p.add_argument("--private-data", action="store_true",
                   help="the data may not leave your machines: rules out the hosted path")
    p.add_argument("--report", metavar="FILE", help="write the report here (default: RUN_DIR/report.md of the first run)")
    p.add_argument("--no-report", action="store_true", help="do not write report.md and its pictures")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="judge hosted availability as of this date (default: today)")
    p.add_argument("--margin", type=float, metavar="POINTS",
                   help="how many points worse on the deciding metric the local model may be and still be "
                        "recommended, judged on the 95%% interval (default: the recipe's eval.margin, 2)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    from datetime import date

    from ftwizard.cli import output
    from ftwizard.errors import UsageError
    from ftwizard.verdict import build_verdict

    today = None
    if args.as_of:
        try:
            today = date.fromisoformat(args.as_of)
        except ValueError:
            raise UsageError(f"--as-of {args.as_of!r}: expected a date as YYYY-MM-DD") from None
    if args.requests_per_month is not None and args.requests_per_month < 0:
        raise UsageError(f"--requests-per-month {args.requests_per_month}: must be 0 or more")
    if args.report and args.no_report:
        raise UsageError("--report and --no-report contradict each other; give one")
    verdict = build_verdict(args.run_dirs, requests_per_month=args.requests_per_month,
                            private_data=args.private_data, today=today, margin=args.margin)

    paths = None
    if not args.no_report:
        from ftwizard.report import write_report

        try:
            paths = write_report(verdict, args.report)
        except UsageError as e:
            if args.report:  # asked for this place: a failure is the user's to fix
                raise
            output.warn(f"{e} (use --report FILE to write it elsewhere)")
    if paths:
        output.info(f"report: {paths['report']}")

    if args.json:
        data = verdict.to_dict()
        data["report"] = paths
        output.print_json(data)
    else:
        from ftwizard.verdict.render import to_rich

        output.out().print(to_rich(verdict, commands_in_panel=False), crop=False)  # commands stay whole lines
    return 0
