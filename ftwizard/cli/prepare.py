"""`ftwizard prepare`: render prompts and training files, and a data report; no training."""

from __future__ import annotations

HELP = "render prompts and training files, and report on the data; no training"


def register(sub) -> None:
    p = sub.add_parser("prepare", help=HELP, description=HELP)
    p.add_argument("recipe", metavar="FILE", help="the recipe")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the files (replaced atomically)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (repeatable)")
    p.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ftwizard.errors import NotBuiltYet

    raise NotBuiltYet("prepare")
