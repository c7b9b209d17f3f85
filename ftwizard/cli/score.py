"""`ftwizard score`: score a predictions file (JSON Lines with prediction and reference)."""

from __future__ import annotations

from ftwizard.cli._stub import not_built

HELP = "score a predictions file (JSON Lines with prediction and reference)"


def register(sub) -> None:
    p = sub.add_parser("score", help=HELP, description=HELP)
    p.add_argument("--task", required=True, choices=["sql", "viggo"])
    p.add_argument("file", metavar="FILE.jsonl")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument("--per-example", action="store_true", help="one line per example")
    p.set_defaults(handler=run)


run = not_built("score")
