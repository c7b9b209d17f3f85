"""`ftwizard prepare`: render prompts and training files, and a data report; no training."""

from __future__ import annotations

from ftwizard.fmt import rate, usd

HELP = "render prompts and training files, and report on the data; no training"


def register(sub) -> None:
    p = sub.add_parser("prepare", help=HELP, description=HELP)
    p.add_argument("recipe", metavar="FILE", help="the recipe (a path, or a bundled recipe's name)")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the files: a new or empty folder, or one an earlier `prepare` wrote (replaced atomically)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (repeatable)")
    p.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    p.set_defaults(handler=run)


def _fmt_stats(s: dict) -> str:
    return f"{s['min']:,} / {s['mean']:,.0f} / {s['p50']:,} / {s['p95']:,} / {s['max']:,}"


def render_report(report: dict):
    """The data report as rich renderables (also used by the wizard)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"data report: {report['recipe']} ({report['task']})", title_justify="left", box=None,
              header_style="bold", pad_edge=False)
    t.add_column("")
    for which in report["splits"]:
        t.add_column(which, justify="right")
    splits = report["splits"].values()
    t.add_row("examples", *[f"{s['examples']:,}" for s in splits])
    t.add_row("hosted tokens/example min/mean/p50/p95/max",
              *[_fmt_stats(s["hosted"]["tokens_per_example"]) for s in splits])
    t.add_row("hosted billed tokens per epoch", *[f"{s['hosted']['billed_tokens_per_epoch']:,}" for s in splits])
    t.add_row("chat format errors", *[str(sum(s["hosted"]["errors"].values())) for s in splits])
    label = "local tokens/example" + ("" if report["local"]["exact"] else " (estimate)")
    t.add_row(label + " min/mean/p50/p95/max", *[_fmt_stats(s["local"]["tokens_per_example"]) for s in splits])
    t.add_row(f"over max_length {next(iter(splits))['local']['max_length']}",
              *[f"{s['local']['over_max_length']['count']:,} ({s['local']['over_max_length']['percent']}%)"
                for s in splits])
    sched = report["local"].get("schedule")
    h = report["hosted"]
    lines = [
        f"data format: {report.get('format', 'fields')} ({report.get('format_source', 'detected')})"
        + (f"; local training: {report['local']['chat_template']}" if report["local"].get("chat_template") else ""),
        f"local tokenizer: {report['local']['tokenizer']}",
        *([f"local run: {sched['steps']:,} steps of {sched['examples_per_step']} examples ({sched['epochs']:g} epochs), "
           f"{sched['warmup_steps']} warm-up"] if sched else []),
        f"hosted: {h.get('provider', '')} {h['model']} ({h['encoding']}), {h['epochs']} epochs ({h['epochs_rule']})"
        + (f"; {h['note']}" if h.get("note") else ""),
        f"hosted training would bill {h['billed_tokens']:,} tokens"
        + (f" = {usd(h['cost_usd'])} at {rate(h['training_usd_per_1m'], '1M')} ({h['price_source']}, {h['price_date']})"
           if h.get("cost_usd") is not None else f" ({h['price_source']})"),
    ]
    problems = report.get("problems") or []
    body = [t, Text("")] + [Text(line) for line in lines]
    if problems:
        body.append(Text("\nproblems:", style="bold yellow"))
        body += [Text(f"  - {p}") for p in problems]
    else:
        body.append(Text("\nno problems found in the data", style="green"))
    return Group(*body)


def run(args) -> int:
    from ftwizard.cli import output
    from ftwizard.cli.run import resolve_recipe_path
    from ftwizard.errors import UsageError, naming_the_recipe
    from ftwizard.fsutil import check_replaceable
    from ftwizard.prepare import prepare
    from ftwizard.recipe import load_recipe

    path = resolve_recipe_path(args.recipe)
    recipe = load_recipe(path, args.overrides)
    check_replaceable(args.out)  # before any work: never replace what ftwizard did not write
    try:
        report = prepare(recipe, args.out)
    except UsageError as e:
        raise naming_the_recipe(e, str(path)) from None
    if args.json:
        output.print_json(report)
    else:
        output.out().print(render_report(report))
    output.info(f"wrote {args.out}/ ({', '.join(report['files'].values())}) in {report['seconds']:.2f} s")
    return 0
