"""`ftwizard` with no command: the interactive wizard (Textual). Runs it launches outlive it."""

from __future__ import annotations


def run(_args) -> int:
    from ftwizard.runs.directory import default_runs_dir
    from ftwizard.tui.app import make_app

    app = make_app(runs_dir=default_runs_dir())
    code = app.run()
    report_live_runs(app)
    return int(code or 0)


def report_live_runs(app) -> None:
    """After the app closes: which runs keep running, and how to get back to them."""
    import os

    from ftwizard.cli import output
    from ftwizard.cli.output import err

    if app.no_color:
        os.environ["NO_COLOR"] = "1"  # Textual removed it from the environment; the lines below honour it too
    output.reset()  # a console made while the app ran points at Textual's captured stderr
    live = app.live_runs
    if live:
        err().print(f"{len(live)} run(s) still running (quitting the wizard never stops a run):")
        for p in live:
            err().print(f"  ftwizard attach {p}")
    elif app.state.runs:
        err().print("runs: " + ", ".join(str(p) for p in app.state.runs))
    if app.state.saved_path:
        err().print(f"recipe: ftwizard --recipe {app.state.saved_path}")
