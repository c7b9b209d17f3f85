"""`ftwizard run`: run a recipe headless - train (local or hosted), then evaluate."""

from __future__ import annotations

from pathlib import Path

HELP = "run a recipe: train (local or hosted), then evaluate"


def register(sub) -> None:
    p = sub.add_parser("run", help=HELP, description=HELP)
    p.add_argument("recipe", nargs="?", metavar="FILE", help="the recipe to run (a path, or a bundled recipe's name)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--detach", action="store_true", help="start the run and return at once; follow it with `attach`")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="where run directories are created (default: runs)")
    p.add_argument("--nproc", type=int, metavar="N", help="processes (GPUs) per node, through torchrun")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run directory instead of starting a new run")
    p.set_defaults(handler=run)


def resolve_recipe_path(name: str) -> Path:
    """A path as given, else a bundled recipe by name (`sql-gpt35`)."""
    p = Path(name)
    if p.exists():
        return p
    from ftwizard.bundled import find_bundled

    found = find_bundled(p.name)
    return found if found is not None else p


def run(args) -> int:
    from ftwizard.backends import get_backend
    from ftwizard.cli import output
    from ftwizard.errors import UsageError
    from ftwizard.recipe import load_recipe
    from ftwizard.rundir import RunDirectory

    if args.resume:
        if args.recipe or args.overrides:
            raise UsageError("--resume continues a run as recorded; do not pass a recipe or --set with it")
        run_dir = RunDirectory.open(args.resume)
        recipe = run_dir.recipe()
        backend = get_backend(recipe.backend)
        output.info(f"resuming {run_dir.path}")
        return backend.resume(run_dir, detach=args.detach)
    if not args.recipe:
        raise UsageError("name a recipe to run (see `ftwizard recipes`), or --resume RUN_DIR")
    if args.nproc is not None and args.nproc < 1:
        raise UsageError("--nproc must be at least 1")
    path = resolve_recipe_path(args.recipe)
    recipe = load_recipe(path, args.overrides)
    if args.nproc:
        recipe = recipe.with_updates({"hardware.nproc": args.nproc})
    backend = get_backend(recipe.backend)
    backend.preflight(recipe)
    header = f"ftwizard run {path}" + "".join(f" --set {o}" for o in args.overrides) + "\nfully resolved by ftwizard"
    run_dir = RunDirectory.create(args.runs_dir, recipe.name, recipe.to_toml(header=header))
    output.info(f"run directory: {run_dir.path}")
    return backend.start(run_dir, recipe, detach=args.detach)


def run_recipe_headless(recipe: str, overrides: list[str]) -> int:
    """`ftwizard --recipe FILE`: the same as `ftwizard run FILE`."""
    import argparse

    return run(argparse.Namespace(recipe=recipe, overrides=overrides, detach=False, runs_dir="runs",
                                  nproc=None, resume=None))
