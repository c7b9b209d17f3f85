"""`ftwizard cancel`: stop a run - the local trainer (it saves first) or the hosted job."""

from __future__ import annotations

HELP = "cancel a run (local process or hosted job)"


def register(sub) -> None:
    p = sub.add_parser("cancel", help=HELP, description=HELP)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--json", action="store_true", help="the outcome as JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ftwizard.backends import backend_for_run
    from ftwizard.cli import output
    from ftwizard.runs.directory import FINAL_STATES, RunDirectory

    run_dir = RunDirectory.open(args.run_dir)
    state = run_dir.state
    if state in FINAL_STATES:
        output.info(f"{run_dir.path} has already ended ({state}); nothing to cancel")
        if args.json:
            output.print_json({"run_dir": str(run_dir.path), "cancel_requested": False, "state": state})
        return 0
    backend = backend_for_run(run_dir)
    backend.cancel(run_dir)
    output.info(f"cancel requested for {run_dir.path}")
    if args.json:
        output.print_json({"run_dir": str(run_dir.path), "cancel_requested": True, "state": run_dir.state})
    return 0
