"""`ftwizard compare`: the verdict: compare runs on accuracy and cost."""

from __future__ import annotations

from ftwizard.cli._stub import not_built

HELP = "the verdict: compare runs on accuracy and cost"


def register(sub) -> None:
    p = sub.add_parser("compare", help=HELP, description=HELP)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--requests-per-month", type=int, metavar="N")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


run = not_built("compare")
