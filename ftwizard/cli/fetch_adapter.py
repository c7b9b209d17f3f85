"""`ftwizard fetch-adapter RUN_DIR`: download a hosted run's trained adapter again (what was paid for)."""

from __future__ import annotations

HELP = "download a hosted run's trained adapter again into RUN_DIR/adapter (no new job)"


def register(sub) -> None:
    p = sub.add_parser("fetch-adapter", help=HELP, description=HELP + ". For a run whose job succeeded but whose "
                       "download was cut short or whose adapter/ was removed (Together).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    p.add_argument("--json", action="store_true", help="the outcome as JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ftwizard.backends import backend_for_run
    from ftwizard.cli import output
    from ftwizard.runs.directory import RunDirectory

    run_dir = RunDirectory.open(args.run_dir)
    done = backend_for_run(run_dir).fetch_adapter(run_dir)
    if args.json:
        output.print_json({"run_dir": str(run_dir.path), "adapter_dir": str(run_dir.adapter_dir), "done": done})
    else:
        output.out().print(done, highlight=False)
    return 0
