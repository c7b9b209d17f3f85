"""`ftwizard eval`: (re)evaluate a finished run."""

from __future__ import annotations

from ftwizard.cli._stub import not_built

HELP = "(re)evaluate a finished run"


def register(sub) -> None:
    p = sub.add_parser("eval", help=HELP, description=HELP)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(handler=run)


run = not_built("eval")
