"""`ftwizard attach`: the wizard's live view of a run (running or finished), rebuilt from its directory."""

from __future__ import annotations

HELP = "the wizard's live view of a run (running or finished)"


def register(sub) -> None:
    p = sub.add_parser("attach", help=HELP, description=HELP + ". Quitting the view never stops the run; "
                       "ctrl+n goes on to the verdict.")
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="+", help="one or more run directories (shown together)")
    p.set_defaults(handler=run)


def attach_state(run_dirs: list[str]):
    """The wizard state for following these run directories (their recipe fills the other steps)."""
    from ftwizard.runs.directory import RunDirectory
    from ftwizard.tui.state import WizardState

    runs = [RunDirectory.open(p) for p in run_dirs]
    recipe = runs[0].recipe()
    state = WizardState().with_recipe(recipe, choice="file", recipe_path=str(runs[0].recipe_path))
    return state.model_copy(update={"runs": tuple(str(r.path) for r in runs),
                                    "backends": tuple(dict.fromkeys(r.status().get("backend", recipe.backend)
                                                                    for r in runs))})


def run(args) -> int:
    from ftwizard.cli.wizard import report_live_runs
    from ftwizard.runs.directory import default_runs_dir
    from ftwizard.tui.app import make_app

    state = attach_state(args.run_dir)
    app = make_app(state=state, start_step=3, attach_only=True, runs_dir=default_runs_dir())
    code = app.run()
    report_live_runs(app)
    return int(code or 0)
