"""`ftwizard import-openai-job`: bring an OpenAI fine-tuning job over: files, settings, a local recipe."""

from __future__ import annotations

HELP = "bring an OpenAI fine-tuning job over: files, settings, a local recipe"

DESCRIPTION = """\
Download an existing fine-tuning job's training and validation files and hyperparameters, write them as chat
JSONL (the job's own examples) next to a local LoRA recipe for the same data (data.format = "chat": an open model
trains on its own chat template; the [hosted] section is the job's twin), and a run directory recording the
hosted job (fine-tuned model, trained tokens, cost, metrics) to evaluate and compare. A failed import leaves
nothing behind.
OpenAI does not give back files uploaded for fine-tuning (only results): pass your local copy with
--train-file PATH (and --validation-file PATH); the training copy is checked against the job's trained tokens
(our count of it x the job's epochs) and refused when it cannot be the file the job trained on.
Reads OPENAI_API_KEY (and OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID) from the environment."""


# Kept in step with ftwizard.backends.hosted.importer.DEFAULT_OPEN_MODEL (a test checks): importing the importer
# here would load the hosted backend on every command's start-up.
DEFAULT_OPEN_MODEL = "Qwen/Qwen2.5-7B-Instruct"


def register(sub) -> None:
    p = sub.add_parser("import-openai-job", help=HELP, description=DESCRIPTION)
    p.add_argument("job_id", metavar="JOB_ID", help="the fine-tuning job, e.g. ftjob-abc123")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="where the run directory goes (default: runs)")
    p.add_argument("--out-recipe", metavar="FILE",
                   help="the local recipe to write (default: ./imported-<suffix>.toml); data files go next to it")
    p.add_argument("--model", default=DEFAULT_OPEN_MODEL, metavar="ID",
                   help=f"the open model of the local recipe (default: {DEFAULT_OPEN_MODEL})")
    p.add_argument("--train-file", metavar="PATH", default=None,
                   help="your copy of the job's training file (OpenAI does not let it be downloaded)")
    p.add_argument("--validation-file", metavar="PATH", default=None,
                   help="your copy of the job's validation file")
    p.add_argument("--provider", choices=("openai", "azure"), default="openai",
                   help="where the job lives (default: openai)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ftwizard.backends.hosted.importer import import_openai_job
    from ftwizard.cli import output
    from ftwizard.errors import UsageError

    job_id = args.job_id.strip()
    if not job_id:
        raise UsageError("JOB_ID is empty; pass the fine-tuning job's id, e.g. ftjob-abc123")
    output.info(f"importing {job_id} ...")
    res = import_openai_job(job_id, runs_dir=args.runs_dir, out_recipe=args.out_recipe, open_model=args.model,
                            provider=args.provider, train_file=args.train_file,
                            validation_file=args.validation_file)
    for w in res.warnings:
        output.warn(w)
    if args.json:
        output.print_json(res.to_dict())
        return 0
    from rich.table import Table

    from ftwizard.fmt import usd

    t = Table(title=f"imported {res.job_id}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    cost = usd(res.training_usd, unpriced="unknown")
    for k, v in (("job", f"{res.job_id} ({res.job_status})"), ("base model", res.base_model),
                 ("fine-tuned model", res.fine_tuned_model or "-"),
                 ("trained tokens", f"{res.trained_tokens:,}" if res.trained_tokens else "-"),
                 ("training cost", cost),
                 ("hyperparameters", ", ".join(f"{k}={v}" for k, v in res.hyperparameters.items()) or "-"),
                 ("examples", ", ".join(f"{k} {n:,}" for k, n in res.examples.items())),
                 ("local recipe", str(res.recipe_path)), ("run directory", str(res.run_dir))):
        t.add_row(k, v)
    output.out().print(t)
    output.out().print(f"next: `ftwizard eval {res.run_dir}` (the hosted model), `ftwizard run {res.recipe_path}` "
                       f"(LoRA on the same data), then `ftwizard compare {res.run_dir} runs/<local run>`")
    return 0
