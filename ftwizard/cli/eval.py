"""`ftwizard eval`: (re)evaluate a finished run."""

from __future__ import annotations

import argparse

HELP = "(re)evaluate a finished run"

DESCRIPTION = """\
Generate answers for the run's eval split with its fine-tuned model (local: batched greedy generation with the
LoRA adapter; hosted: the fine-tuned model through chat completions) and score them. Writes predictions.jsonl
and metrics.json in the run directory. Resumable: run it again after an interruption and it continues where it
stopped; hosted answers already paid for are never requested twice.
--baseline evaluates the base model without fine-tuning (hosted: after showing what it will cost), so the gain
of fine-tuning is on the record.
--local, on a hosted run whose adapter was downloaded (Together, Tinker), evaluates those same weights on this
machine (model.base + adapter/, GPU or CPU) into predictions_local.jsonl and metrics.json's `local` section,
beside the hosted evaluation: the same weights served hosted and at home.
--deployment NAME (Azure OpenAI) records the deployment that serves the fine-tuned model, then evaluates
through it; with --create-deployment ftwizard first creates that deployment for the run's fine-tuned model
(the management API, as `hosted.create_deployment` does after training) and waits until it serves - the
command an Azure run names when its deployment could not be made after training.
"""


def register(sub) -> None:
    p = sub.add_parser("eval", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--baseline", action="store_true", help="evaluate the base model without fine-tuning")
    p.add_argument("--local", action="store_true",
                   help="hosted run with a downloaded adapter: evaluate it on this machine (model.base + adapter/)")
    p.add_argument("--deployment", metavar="NAME", default=None,
                   help="Azure OpenAI: the deployment serving the fine-tuned model (recorded, then used)")
    p.add_argument("--create-deployment", action="store_true",
                   help="Azure OpenAI: create deployment NAME for the run's fine-tuned model first (billed hourly)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="evaluate the first N eval examples (default: the recipe's eval.limit)")
    p.add_argument("--yes", action="store_true", help="accept the estimated cost of a hosted baseline without asking")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    import sys

    from ftwizard.cli import output
    from ftwizard.cli.score import breakdown_renderables, metrics_table
    from ftwizard.errors import UsageError
    from ftwizard.evaluation.runner import evaluate_run
    from ftwizard.fmt import usd
    from ftwizard.fsutil import read_json
    from ftwizard.runs.directory import RunDirectory
    from ftwizard.runs.events import Tail

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be a whole number >= 1 (got {args.limit})")
    run_dir = RunDirectory.open(args.run_dir)
    if args.create_deployment and not args.deployment:
        raise UsageError("--create-deployment needs --deployment NAME (the deployment to create)")
    if args.deployment:
        from ftwizard.backends.hosted.azure import deploy_for_eval

        deploy_for_eval(run_dir, args.deployment, create=args.create_deployment)

    def confirm(est: dict) -> bool:
        output.info(f"baseline evaluation of {est['model']}: {est['examples']} requests, about "
                    f"{est['prompt_tokens']:,} prompt + {est['completion_tokens']:,} completion tokens, "
                    f"estimated {usd(est['usd'], unpriced='unpriced')} ({est['price_source']}, {est['price_date']})")
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("a hosted baseline costs money: pass --yes to accept the estimate above")
        answer = input("Spend that? [y/N] ").strip().lower()
        return answer in ("y", "yes")

    tail = Tail(run_dir, offset=run_dir.events_path.stat().st_size if run_dir.events_path.exists() else 0)
    progress = _Progress(tail)
    section = evaluate_run(run_dir, baseline=args.baseline, limit=args.limit, confirm_cost=confirm,
                           on_progress=progress.poll, local=args.local)
    progress.close()
    if args.json:
        output.print_json(section)
        return 0
    baseline = None
    if not args.baseline:
        baseline = ((read_json(run_dir.metrics_path, default={}) or {}).get("baseline") or {}).get("metrics")
    title = f"{run_dir.name}: {section['which']} {section['model']} on {section['n']} examples"
    output.out().print(metrics_table(section["metrics"], title=title, baseline=baseline,
                                     primary=section.get("primary_metric")))
    for part in breakdown_renderables(section.get("breakdown"), full=True):
        output.out().print(part)
    return 0


class _Progress:
    """Shows the run's eval events on stderr as they are written: the evaluation's figures from the one fold
    (`ftwizard.runs.events`), its log and cost lines as every face echoes them."""

    def __init__(self, tail):
        from ftwizard.runs.events import Progress

        self.tail = tail
        self.progress = Progress()
        self.last = None

    def poll(self) -> None:
        from ftwizard.cli import output
        from ftwizard.runs.events import Cost, Eval, Log, fold, line

        for ev in self.tail.poll():
            self.progress = fold(self.progress, ev)
            if isinstance(ev, Eval) and ev.phase in ("start", "progress"):
                shown = f"eval ({ev.which}): {self.progress.eval_done}/{self.progress.eval_total}"
                if shown != self.last:
                    output.info(shown)
                    self.last = shown
            elif (isinstance(ev, Log) and ev.source == "eval") or (isinstance(ev, Cost) and ev.what == "evaluation"):
                said = line(ev)
                if said is not None:
                    output.info(said.text)

    def close(self) -> None:
        self.poll()
        return None, None
