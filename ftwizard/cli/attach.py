"""`ftwizard attach`: the wizard's live view of a run (running or finished)."""

from __future__ import annotations

from ftwizard.cli._stub import not_built

HELP = "the wizard's live view of a run (running or finished)"


def register(sub) -> None:
    p = sub.add_parser("attach", help=HELP, description=HELP)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(handler=run)


run = not_built("attach")
