"""`ftwizard`: the parser, the dispatch, and the one place errors become messages and exit codes.

Start-up stays light: command modules import the engine lazily inside `run`, so `ftwizard --help` and
`ftwizard recipes` never load torch, transformers, peft or datasets.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ftwizard import __version__
from ftwizard.errors import ExitCode, FtwizardError

# command name -> module in ftwizard.cli (each has `register(subparsers)` and `run(args) -> int`)
COMMANDS = {
    "run": "run",
    "attach": "attach",
    "cancel": "cancel",
    "estimate": "estimate",
    "gpu": "gpu",
    "prepare": "prepare",
    "eval": "eval",
    "score": "score",
    "compare": "compare",
    "runs": "runs",
    "recipes": "recipes",
    "import-openai-job": "import_openai_job",
    "fetch-adapter": "fetch_adapter",
}

EPILOG = """\
ftwizard                         the wizard (an interactive terminal app)
ftwizard --recipe FILE           run a recipe headless (same as `ftwizard run FILE`)

exit codes: 0 success, 1 the run failed, 2 usage or recipe error, 130 interrupted
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftwizard",
        description="Decide how to fine-tune a model for a narrow task - hosted API or LoRA on an open model - "
        "and do it: estimate, prepare, train, evaluate, compare.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ftwizard {__version__}")
    parser.add_argument("--recipe", dest="recipe_file", metavar="FILE", help="run this recipe headless (same as `ftwizard run FILE`)")
    parser.add_argument("--set", dest="top_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe key, e.g. --set train.lr=1e-4 (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        mod = importlib.import_module(f"ftwizard.cli.{module}")
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        # `ftwizard` alone: straight to the wizard, without building every command's parser (first frame < 1 s).
        from ftwizard.cli import wizard

        return wizard.run(argparse.Namespace(command=None, recipe_file=None, top_overrides=[]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if args.recipe_file:
            from ftwizard.cli import run as run_cmd

            return run_cmd.run_recipe_headless(args.recipe_file, args.top_overrides)
        if args.top_overrides:
            parser.error("--set needs --recipe FILE (or a command that takes a recipe)")
        from ftwizard.cli import wizard

        return wizard.run(args)
    if args.recipe_file:
        parser.error("--recipe runs a recipe on its own; do not combine it with a command")
    if args.top_overrides:
        args.overrides = list(args.top_overrides) + list(getattr(args, "overrides", None) or [])
    handler = args.handler
    return int(handler(args) or 0)


def entry() -> None:
    """The console script: turns every error into one message and an exit code."""
    from ftwizard.cli import output

    from ftwizard import settings

    debug = settings.debug()
    try:
        code = main()
    except FtwizardError as e:
        output.error(str(e))
        code = int(e.exit_code)
    except KeyboardInterrupt:
        output.err().print("interrupted")
        code = int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        code = 0
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if debug:
            raise
        output.error(f"unexpected {type(e).__name__}: {e} (run with FTWIZARD_DEBUG=1 for the traceback)")
        code = int(ExitCode.RUN_FAILED)
    sys.exit(code)
