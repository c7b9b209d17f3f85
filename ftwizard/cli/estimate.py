"""`ftwizard estimate`: instant what-if estimates: VRAM, hours, dollars, local vs hosted."""

from __future__ import annotations

import argparse

HELP = "instant what-if estimates: VRAM, hours, dollars, local vs hosted"
EPILOG = """\
examples:
  ftwizard estimate sql-codellama34b-lora                 the seed's run as a recipe
  ftwizard estimate sql-codellama34b-lora --gpu H100 --quant 4bit --json
  ftwizard estimate viggo-gpt35 --model Qwen/Qwen2.5-7B --gpu L40S --epochs 2
  ftwizard estimate --model meta-llama/Llama-3.1-8B --examples 20000 --tokens-per-example 300

Without FILE, --examples and --tokens-per-example describe the data. Prices: --price-per-hour, else the recipe's
hardware.price_per_hour, else FTWIZARD_PRICE_PER_HOUR, else the catalog. docs/estimates.md explains the numbers.
"""


def register(sub) -> None:
    p = sub.add_parser("estimate", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", nargs="?", metavar="FILE", help="a recipe file or a bundled recipe's name")
    p.add_argument("--model", metavar="ID", help="open model: catalog id, Hugging Face id or a folder with config.json")
    p.add_argument("--gpu", metavar="NAME", help="catalog GPU (A40, L4, A100-80GB, H100, ...; see `ftwizard gpu`)")
    p.add_argument("--price-per-hour", type=float, metavar="USD", help="USD per GPU-hour")
    p.add_argument("--quant", choices=["none", "8bit", "4bit"], help="load the base in 8-bit or 4-bit")
    p.add_argument("--examples", type=int, metavar="N", help="number of training examples")
    p.add_argument("--tokens-per-example", type=int, metavar="T", help="tokens in every example")
    p.add_argument("--epochs", type=float, metavar="E", help="epochs, hosted and local (local: instead of max_steps)")
    p.add_argument("--rank", type=int, metavar="R", help="LoRA rank")
    p.add_argument("--hosted-model", metavar="NAME", help="hosted model to price (e.g. gpt-3.5-turbo, gpt-4.1-mini)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR",
                   help="past runs to calibrate from (default: runs, or FTWIZARD_RUNS_DIR)")
    p.add_argument("--set", dest="set_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (repeatable)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


def _recipe(args):
    from ftwizard.errors import UsageError
    from ftwizard.recipe import load_recipe, parse_overrides, validate_dict

    overrides = list(getattr(args, "overrides", []) or []) + list(args.set_overrides or [])
    if args.recipe:
        from ftwizard.cli.run import resolve_recipe_path

        return load_recipe(resolve_recipe_path(args.recipe), overrides)
    if args.examples is None or args.tokens_per_example is None:
        raise UsageError("give a recipe FILE, or describe the data with --examples N and --tokens-per-example T")
    from ftwizard.estimate import _positive

    _positive("--examples", args.examples, integer=True)
    _positive("--tokens-per-example", args.tokens_per_example, integer=True)
    recipe = validate_dict({"name": "what-if", "task": "sql"}, source="<what-if>")
    return recipe.with_updates(parse_overrides(overrides)) if overrides else recipe


def run(args) -> int:
    from ftwizard.cli import output
    from ftwizard.estimate import estimate_recipe

    recipe = _recipe(args)
    est = estimate_recipe(recipe, gpu=args.gpu, price_per_hour=args.price_per_hour, quant=args.quant,
                          examples=args.examples, tokens_per_example=args.tokens_per_example, epochs=args.epochs,
                          rank=args.rank, hosted_model=args.hosted_model, model=args.model,
                          runs_dir=args.runs_dir)
    if args.json:
        output.print_json(est)
        import sys

        for note in est.get("notes", []):  # plain text: loading rich just for notes costs 0.1 s
            sys.stderr.write(f"note: {note}\n")
        return 0
    print_table(est)
    for note in est.get("notes", []):
        output.info(f"note: {note}")
    return 0


def _money(v) -> str:
    return "-" if v is None else f"${v:,.2f}"


def print_table(est: dict) -> None:
    from rich.table import Table

    from ftwizard.cli import output

    L, H, S = est["local"], est["hosted"], est.get("serving")
    b = L["breakdown"]
    t = Table(title=f"Estimate: {est.get('recipe', '')}", show_header=True, header_style="bold")
    t.add_column("", style="bold")
    t.add_column(f"local LoRA: {L['model']}")
    t.add_column(f"hosted: {H['model']}")
    fits = "[green]fits[/green]" if L["fits"] else "[red]does not fit[/red]"
    t.add_row("hardware", f"{L['gpu_count']} x {L['gpu']} ({L['gpu_vram_gb']} GB), {L['quant']}, {L['dtype']}",
              H["provider"])
    t.add_row("memory", f"{L['vram_gb']} GB peak, {fits}", "-")
    t.add_row("data", f"{b['tokens']['examples']:,} examples, {L['train_tokens']:,} tokens trained "
              f"({L['steps']} steps, {L['epochs_equivalent']} epochs)",
              f"{H['billed_tokens']:,} billed tokens ({H['epochs']} epochs)")
    t.add_row("time", f"{L['hours']:.1f} h at {L['tokens_per_s']:,.0f} tokens/s", "queue + training (OpenAI's)")
    price = "-" if L["price_per_hour"] is None else f"${L['price_per_hour']}/h"
    t.add_row("training cost", f"[bold]{_money(L['cost_usd'])}[/bold] ({price})",
              f"[bold]{_money(H['cost_usd'])}[/bold] (${H['usd_per_1m_training']}/1M)")
    if est.get("ratio"):
        t.add_row("hosted / local", f"{est['ratio']}x", "")
    if S and S.get("local_usd_per_1k") is not None:
        be = S.get("break_even_requests_per_month")
        t.add_row("serving / 1k requests", f"{_money(S['local_usd_per_1k'])} ({S['local_tokens_per_s']:,.0f} tok/s)",
                  _money(S["hosted_usd_per_1k"]))
        t.add_row(f"serving / month ({S['requests_per_month']:,.0f} req)", _money(S["local_monthly_usd"]),
                  _money(S["hosted_monthly_usd"]))
        t.add_row("local cheaper from", "never" if be is None else f"{be:,} requests/month", "")
    if H.get("available_until"):
        t.add_row("availability", "yours to keep", f"[yellow]new jobs until {H['available_until']}[/yellow]")
    t.add_row("prices", f"{L['price_source']} ({L['price_date'] or 'undated'})",
              f"{H['price_source']} ({H['price_date']})")
    if L["calibrated_from_runs"]:
        t.add_row("calibration", f"calibrated from {L['calibrated_from_runs']} runs", "")
    output.out().print(t)
    v = b["vram"]
    parts = ", ".join(f"{k.replace('_', ' ')} {val:.2f}" for k, val in v.items() if val >= 0.005)
    output.out().print(f"memory (GB): {parts}")
