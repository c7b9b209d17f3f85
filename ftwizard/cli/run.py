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
    p.add_argument("--runs-dir", default=None, metavar="DIR",
                   help="where run directories are created (default: $FTWIZARD_RUNS_DIR, else runs)")
    p.add_argument("--nproc", type=int, metavar="N", help="processes (GPUs) per node, through torchrun")
    p.add_argument("--nnodes", type=int, metavar="N", help="machines in the run (torchrun's rendezvous)")
    p.add_argument("--node-rank", type=int, metavar="K", help="this machine's rank: 0 creates the run; K > 0 "
                   "joins it, given node 0's RUN_DIR instead of a recipe")
    p.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="node 0's address for the rendezvous")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue this run directory instead of starting a new run")
    p.add_argument("--json", action="store_true",
                   help="when it returns, the run's outcome as JSON on stdout (run dir, status, metrics, cost)")
    p.set_defaults(handler=run)


def resolve_recipe_path(name: str) -> Path:
    """A path as given, else a bundled recipe by name (`sql-gpt35`)."""
    p = Path(name)
    if p.exists():
        return p
    from ftwizard.bundled import find_bundled

    found = find_bundled(p.name)
    return found if found is not None else p


def run_summary(run_dir) -> dict:
    """What a machine wants to know after `ftwizard run`: where, how it ended, and the numbers."""
    from ftwizard.fsutil import read_json

    status = run_dir.status()
    return {
        "run_dir": str(run_dir.path),
        "state": status.get("state"),
        "status": status,
        "metrics": read_json(run_dir.metrics_path, default=None),
        "cost": read_json(run_dir.cost_path, default=None),
        "gain_over_base": gain_over_base(run_dir)[0],
    }


def gain_over_base(run_dir) -> tuple[dict | None, str | None]:
    """The fine-tune against the untuned model on the task's deciding metric (the verdict's paired test:
    exact McNemar p-value and the discordant counts), as figures and as the line `run` prints; (None, None)
    before evaluation or without a baseline."""
    if not run_dir.metrics_path.exists():
        return None, None
    from ftwizard.errors import UsageError
    from ftwizard.verdict import build_verdict
    from ftwizard.verdict.render import gain_line

    try:
        v = build_verdict([run_dir.path])
    except UsageError:  # a run the verdict cannot read: the status line already said how it ended
        return None, None
    row = v.rows[0]
    return v.to_dict()["runs"][0]["gain_over_base"], gain_line(v, row)


def run(args) -> int:
    code = _run(args)
    run_dir = getattr(args, "_run_dir", None)
    if getattr(args, "json", False) and run_dir is not None:
        from ftwizard.cli import output

        output.print_json({"exit_code": code, **run_summary(run_dir)})
    elif run_dir is not None and code == 0 and not getattr(args, "detach", False):
        line = gain_over_base(run_dir)[1]
        if line:
            print(line)  # a result: stdout, unwrapped
    return code


def follow_run(backend, run_dir, *, detach: bool) -> int:
    """After `launch` / `resume`: return at once (--detach) or follow the run on stderr until it ends."""
    from ftwizard.cli import output
    from ftwizard.errors import ExitCode

    if detach:
        output.info(f"started in the background; follow it with `ftwizard attach {run_dir.path}`, "
                    f"stop it with `ftwizard cancel {run_dir.path}`")
        return int(ExitCode.OK)
    from ftwizard.follow import follow

    return follow(run_dir, is_alive=lambda: backend.is_alive(run_dir), cancel=lambda: backend.cancel(run_dir),
                  **backend.follow_options(run_dir))


def _run(args) -> int:
    from ftwizard.backends import backend_for
    from ftwizard.cli import output
    from ftwizard.errors import UsageError
    from ftwizard.recipe import load_recipe
    from ftwizard.runs.directory import RunDirectory, default_runs_dir

    if args.resume:
        if args.recipe or args.overrides:
            raise UsageError("--resume continues a run as recorded; do not pass a recipe or --set with it")
        run_dir = RunDirectory.open(args.resume)
        args._run_dir = run_dir
        backend = backend_for(run_dir.recipe())
        refusal = backend.resume_refusal(run_dir)  # before anything is said or started
        if refusal:
            raise UsageError(refusal)
        output.info(f"resuming {run_dir.path}")
        backend.resume(run_dir)
        return follow_run(backend, run_dir, detach=args.detach)
    if not args.recipe:
        raise UsageError("name a recipe to run (see `ftwizard recipes`), or --resume RUN_DIR")
    if args.nproc is not None and args.nproc < 1:
        raise UsageError("--nproc must be at least 1")
    placement = {k: v for k, v in (("hardware.nproc", args.nproc), ("hardware.nnodes", args.nnodes),
                                   ("hardware.node_rank", args.node_rank),
                                   ("hardware.rdzv_endpoint", args.rdzv_endpoint)) if v is not None}
    if (Path(args.recipe) / "recipe.toml").is_file() and (Path(args.recipe) / "status.json").is_file():
        return _join(args, placement)
    path = resolve_recipe_path(args.recipe)
    recipe = load_recipe(path, args.overrides)
    if placement:
        recipe = recipe.with_updates(placement)
    from ftwizard.usecases.start_run import check_run, launch_run

    try:
        checked = check_run(recipe)  # before anything exists or is contacted (a closed hosted model stops here)
    except UsageError as e:
        from ftwizard.errors import naming_the_recipe

        raise naming_the_recipe(e, str(path)) from None
    for w in checked.warnings:  # settings that cannot learn: said before launch, never refused
        output.warn(w)
    for note in checked.notes:  # e.g. how a hosted fine-tune will be evaluated
        output.info(note)
    header = f"ftwizard run {path}" + "".join(f" --set {o}" for o in args.overrides) + "\nfully resolved by ftwizard"

    def created(run_dir: RunDirectory) -> None:
        args._run_dir = run_dir
        output.info(f"run directory: {run_dir.path}")

    run_dir = launch_run(recipe, default_runs_dir(args.runs_dir), header=header, backend=checked.backend,
                         on_created=created)
    return follow_run(checked.backend, run_dir, detach=args.detach)


def _join(args, placement: dict) -> int:
    """Node K > 0 of a multi-node run: train in node 0's run directory (shared storage), writing nothing to it."""
    from ftwizard.backends import backend_for
    from ftwizard.cli import output
    from ftwizard.errors import UsageError
    from ftwizard.runs.directory import RunDirectory

    if args.overrides:
        raise UsageError("a node joining a run trains the run's recipe as recorded; no --set")
    run_dir = RunDirectory.open(args.recipe)
    recipe = run_dir.recipe().with_updates(placement)
    backend = backend_for(recipe)
    if not hasattr(backend, "join"):
        raise UsageError(f"{run_dir.path} is a {recipe.backend} run: only local runs span several machines")
    output.info(f"joining {run_dir.path} as node {recipe.hardware.node_rank} of {recipe.hardware.nnodes}")
    return backend.join(run_dir, recipe)


def run_recipe_headless(recipe: str, overrides: list[str]) -> int:
    """`ftwizard --recipe FILE`: the same as `ftwizard run FILE`."""
    import argparse

    return run(argparse.Namespace(recipe=recipe, overrides=overrides, detach=False, runs_dir=None,
                                  nproc=None, nnodes=None, node_rank=None, rdzv_endpoint=None, resume=None,
                                  json=False))
