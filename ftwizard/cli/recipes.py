"""`ftwizard recipes`: list the bundled recipes, one line each."""

from __future__ import annotations

HELP = "list the bundled recipes"


def register(sub) -> None:
    p = sub.add_parser("recipes", help=HELP, description=HELP)
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ftwizard.bundled import bundled_recipes
    from ftwizard.cli import output

    items = bundled_recipes()
    if args.json:
        output.print_json([{"name": r.name, "path": str(r.path), "task": r.task, "backend": r.backend,
                            "summary": r.summary, "command": r.command} for r in items])
        return 0
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("recipe")
    table.add_column("task")
    table.add_column("backend")
    table.add_column("what it runs", overflow="fold")
    for r in items:
        table.add_row(r.path.name, r.task, r.backend, r.summary)
    output.out().print(table)
    output.err().print(f"{len(items)} recipes in {items[0].path.parent if items else '(none)'}; "
                       "run one with: ftwizard run recipes/NAME.toml")
    return 0
