"""`ftwizard recipes`: list the bundled recipes, one line each; `--from-data FILE` proposes a recipe for your own
data, the one the wizard's own-data path proposes (`usecases.own_data`)."""

from __future__ import annotations

HELP = "list the bundled recipes, or propose one for your own data (--from-data)"
EPILOG = """\
examples:
  ftwizard recipes                          the bundled recipes
  ftwizard recipes --from-data t.jsonl      the recipe the wizard proposes for
                                            t.jsonl (on stdout)
  ftwizard recipes --from-data t.jsonl --gpu H100 -o t.toml
  ftwizard run t.toml
"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("recipes", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    own = p.add_argument_group("your own data")
    own.add_argument("--from-data", metavar="FILE", help="a JSONL or CSV training file (chat, prompt/completion, "
                                                         "alpaca)")
    own.add_argument("--eval", metavar="FILE", default="", help="an eval file (default: hold out a seeded 10%%)")
    own.add_argument("--gpu", metavar="NAME", help="the card to fit the model to (default: the one found here, "
                                                   "else the CPU)")
    own.add_argument("--name", default="", help="the recipe's name (default: after the file)")
    own.add_argument("-o", "--out", metavar="PATH", help="write the recipe there (a new file) instead of stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    if args.from_data:
        return _from_data(args)
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


def _from_data(args) -> int:
    from pathlib import Path

    from ftwizard.catalog import get_gpu
    from ftwizard.cli import output
    from ftwizard.errors import UsageError
    from ftwizard.fsutil import atomic_write_text
    from ftwizard.usecases.own_data import OwnData, card_here, propose

    if args.out and Path(args.out).exists():
        raise UsageError(f"-o {args.out}: the file exists; name a new file (ftwizard never replaces a recipe "
                         "it did not write)")
    gpu = get_gpu(args.gpu).name if args.gpu else card_here()
    recipe = propose(OwnData(train=args.from_data, eval=args.eval, name=args.name), gpu)
    if args.json:
        output.print_json({"gpu": gpu, "recipe": recipe.model_dump(mode="json")})
        return 0
    target = args.out or "RECIPE.toml"
    text = recipe.to_toml(header=f"Proposed by `ftwizard recipes --from-data {args.from_data}` for {gpu}.\n"
                                 f"Run it with: ftwizard run {target}")
    if args.out:
        atomic_write_text(Path(args.out), text)
        from rich.markup import escape

        output.info(escape(f"wrote {args.out} ({recipe.model.catalog_id or recipe.model.base} on {gpu}); "
                           f"run it with: ftwizard run {args.out}"))
    else:
        import sys

        sys.stdout.write(text)
    return 0
