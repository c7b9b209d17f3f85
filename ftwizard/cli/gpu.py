"""`ftwizard gpu`: hardware check: GPUs, memory, drivers, prices."""

from __future__ import annotations

from ftwizard.cli._stub import not_built

HELP = "hardware check: GPUs, memory, drivers, prices"


def register(sub) -> None:
    p = sub.add_parser("gpu", help=HELP, description=HELP)
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


run = not_built("gpu")
