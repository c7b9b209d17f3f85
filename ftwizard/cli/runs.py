"""`ftwizard runs`: the past runs in a runs folder, newest first - state, deciding metric, cost, age."""

from __future__ import annotations

HELP = "list past runs: state, deciding metric (95% interval), training cost, age"


def register(sub) -> None:
    p = sub.add_parser("runs", help=HELP.replace("%", "%%"), description=HELP + ". Compare any two with "
                       "`ftwizard compare RUN_DIR RUN_DIR`, or in the wizard's Runs screen.")
    p.add_argument("--runs-dir", default=None, metavar="DIR",
                   help="the folder of runs (default: $FTWIZARD_RUNS_DIR, else ./runs)")
    p.add_argument("--json", action="store_true", help="the runs as JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ftwizard.cli import output
    from ftwizard.runs.directory import default_runs_dir
    from ftwizard.runlist import list_runs, rich_table

    runs_dir = default_runs_dir(args.runs_dir)
    summaries, problems = list_runs(runs_dir)
    for p in problems:
        output.warn(f"skipped {p}")
    if args.json:
        output.print_json({"runs_dir": str(runs_dir), "runs": [s.to_dict() for s in summaries],
                           "skipped": problems})
        return 0
    if not summaries:
        output.info(f"no runs in {runs_dir}" + ("" if runs_dir.exists() else " (the folder does not exist)"))
        return 0
    output.out().print(rich_table(summaries))
    return 0
