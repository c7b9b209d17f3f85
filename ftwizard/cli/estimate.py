"""`ftwizard estimate`: instant what-if estimates: VRAM, hours, dollars, local vs hosted."""

from __future__ import annotations

from ftwizard.cli._stub import not_built

HELP = "instant what-if estimates: VRAM, hours, dollars, local vs hosted"


def register(sub) -> None:
    p = sub.add_parser("estimate", help=HELP, description=HELP)
    p.add_argument("recipe", nargs="?", metavar="FILE")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


run = not_built("estimate")
