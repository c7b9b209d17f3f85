"""`ftwizard estimate`: instant what-if estimates: VRAM, hours, dollars, local vs hosted."""

from __future__ import annotations

import argparse

from ftwizard.fmt import rate, usd  # no imports of its own: the parser stays light

HELP = "instant what-if estimates: VRAM, hours, dollars, local vs hosted"
EPILOG = """\
examples:
  ftwizard estimate sql-codellama34b-lora                 the seed's run as a recipe
  ftwizard estimate sql-codellama34b-lora --gpu H100 --quant 4bit --json
  ftwizard estimate viggo-gpt35 --model Qwen/Qwen2.5-7B --gpu L40S --epochs 2
  ftwizard estimate --model meta-llama/Llama-3.1-8B --examples 20000 --tokens-per-example 300

Without FILE, --examples and --tokens-per-example describe the data, and local and hosted train the same epochs
of it (--epochs, else the cookbook rule hosted fine-tuning uses: 3, clamped to 100-25,000 example-epochs).
Prices: --price-per-hour, else the recipe's hardware.price_per_hour (for its own GPU), else
FTWIZARD_PRICE_PER_HOUR, else the catalog's price of the GPU chosen. Every hosted provider's candidates are
listed with their price, its date and source, whether the weights come home, and when they close (--as-of).
docs/estimates.md explains the numbers.
"""


def register(sub) -> None:
    from ftwizard.providers import PROVIDER_ORDER as PROVIDERS  # a constant: building the parser loads no catalog

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
    p.add_argument("--gpus", type=int, metavar="N", help="GPUs (processes) training together (the recipe's "
                   "hardware.nproc); with train.fsdp the model is sharded across them")
    p.add_argument("--hosted-model", metavar="NAME", help="hosted model to price (e.g. Qwen/Qwen3-8B, gpt-4.1-mini)")
    p.add_argument("--hosted-provider", choices=list(PROVIDERS), metavar="NAME",
                   help="hosted provider to price: " + ", ".join(PROVIDERS) + " (default: the recipe's; a local "
                        "recipe without one: the provider that trains the same open weights)")
    p.add_argument("--show-closed", action="store_true",
                   help="also list hosted candidates that take no new jobs on the day judged")
    p.add_argument("--runs-dir", default="runs", metavar="DIR",
                   help="past runs to calibrate from (default: runs, or FTWIZARD_RUNS_DIR)")
    p.add_argument("--set", dest="set_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key (repeatable)")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="judge hosted availability as of this date (default: $FTWIZARD_AS_OF, else today)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


def _recipe(args):
    from ftwizard.errors import UsageError
    from ftwizard.recipe import load_recipe, parse_overrides, validate_dict

    overrides = list(getattr(args, "overrides", []) or []) + list(args.set_overrides or [])
    if args.quant:
        # --quant is part of the configuration the recipe's checks judge (FSDP refuses an 8-bit base, say), so it
        # goes in before them: `--quant none --set train.fsdp=true` on an 8-bit recipe is a 16-bit FSDP run
        import json

        from ftwizard.estimate import _quant

        overrides = [f"model.quant={json.dumps(_quant(args.quant))}", *overrides]
    if args.recipe:
        from ftwizard.cli.run import resolve_recipe_path

        return load_recipe(resolve_recipe_path(args.recipe), overrides)
    if args.examples is None or args.tokens_per_example is None:
        raise UsageError("give a recipe FILE, or describe the data with --examples N and --tokens-per-example T")
    from ftwizard.estimate import _positive

    _positive("--examples", args.examples, integer=True)
    _positive("--tokens-per-example", args.tokens_per_example, integer=True)
    # Equal terms: local trains the same epochs of the same data as hosted (no fixed step count), and keeps
    # whole examples (max_length at least the example length) as hosted bills them.
    from ftwizard.plan.hosted import hosted_epochs

    epochs = hosted_epochs(args.examples, override=args.epochs)[0]
    train = {"max_steps": 0, "epochs": epochs, "max_length": max(512, args.tokens_per_example)}
    recipe = validate_dict({"name": "what-if", "task": "sql", "train": train}, source="<what-if>")
    return recipe.with_updates(parse_overrides(overrides)) if overrides else recipe


def run(args) -> int:
    from ftwizard.cli import output
    from ftwizard.estimate import estimate_recipe

    from ftwizard.errors import UsageError

    as_of = None
    if args.as_of:
        import datetime

        try:
            as_of = datetime.date.fromisoformat(args.as_of)
        except ValueError:
            raise UsageError(f"--as-of {args.as_of!r}: expected a date as YYYY-MM-DD") from None
    recipe = _recipe(args)
    hosted_model = args.hosted_model
    if args.hosted_provider:  # a provider (Tinker, ...) chosen: its own spelling of the model
        recipe, hosted_model = _on_provider(recipe, args.hosted_provider, hosted_model, as_of)
    epochs = args.epochs if (args.epochs is not None or args.recipe) else recipe.train.epochs
    est = estimate_recipe(recipe, gpu=args.gpu, price_per_hour=args.price_per_hour, quant=args.quant,
                          examples=args.examples, tokens_per_example=args.tokens_per_example, epochs=epochs,
                          rank=args.rank, hosted_model=hosted_model, model=args.model,
                          runs_dir=args.runs_dir, as_of=as_of, gpus=args.gpus)
    if args.json:
        output.print_json(est.to_json())
        import sys

        for note in est.notes:  # plain text: loading rich just for notes costs 0.1 s
            sys.stderr.write(f"note: {note}\n")
        return 0
    print_table(est.to_json(), show_closed=args.show_closed)
    from rich.markup import escape

    for note in est.notes:
        output.info(f"note: {escape(note)}")
    return 0


def _on_provider(recipe, provider: str, model: str | None, as_of):
    """The recipe priced on `provider`: the model named (in that provider's catalog), else the one
    `catalog.default_hosted` ranks first there for the recipe's open model."""
    import datetime

    from ftwizard.catalog import default_hosted, get_hosted_model
    from ftwizard.errors import UsageError

    if model:
        hm = get_hosted_model(model, provider)
        return recipe.with_updates({"hosted.provider": provider, "hosted.model": hm.id}), None
    c = default_hosted(recipe.model.catalog_id or recipe.model.base, as_of or _as_of(), provider=provider)
    if c is None:
        raise UsageError(f"--hosted-provider {provider}: no model of it takes jobs on "
                         f"{(as_of or _as_of()).isoformat()}; name one with --hosted-model")
    return recipe.with_updates({"hosted.provider": provider, "hosted.model": c["model"]}), None


def _as_of():
    from ftwizard import settings

    return settings.as_of()


NARROW = 110  # below this many columns the tables fold: fewer, shorter columns, never one word a line


def print_table(est: dict, *, show_closed: bool = False) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ftwizard.catalog import provider_name
    from ftwizard.cli import output

    console = output.out()
    narrow = console.width < NARROW
    L, H, S = est["local"], est["hosted"], est.get("serving")
    b = L["breakdown"]
    short = (lambda m: m.split("/")[-1]) if narrow else (lambda m: m)
    t = Table(title=f"Estimate: {escape(est.get('recipe', ''))}", show_header=True, header_style="bold",
              title_justify="left")
    t.add_column("", style="bold", overflow="fold", max_width=16 if narrow else None)
    t.add_column(f"local LoRA: {escape(short(L['model']))}", overflow="fold")
    t.add_column(f"hosted: {escape(short(H['model']))}", overflow="fold")
    fits = "[green]fits[/green]" if L["fits"] else "[red]does not fit[/red]"
    size = f"{L['gpu_vram_gb']} GiB RAM" if L["gpu"] == "cpu" else f"{L['gpu_vram_gb']} GB"  # RAM is read in GiB
    t.add_row("hardware", f"{L['gpu_count']} x {L['gpu']} ({size}), {L['quant']}, {L['dtype']}",
              provider_name(H["provider"]))
    t.add_row("memory", f"{L['vram_gb']} GiB peak, {fits}", "-")
    t.add_row("data", f"{b['tokens']['examples']:,} examples, {L['train_tokens']:,} tokens trained "
              f"({L['steps']} steps, {L['epochs_equivalent']} epochs)",
              f"{H['billed_tokens']:,} billed tokens ({H['epochs']} epochs)")
    lo, hi = L["hours_range"]
    t.add_row("time", f"{L['hours']:.1f} h ({lo:.1f}-{hi:.1f}) at {L['tokens_per_s']:,.0f} tokens/s"
              + (" per GPU" if L["gpu_count"] > 1 else ""), f"queue + training ({provider_name(H['provider'])}'s)")
    price = rate(L["price_per_hour"], "h")
    if not L["fits"]:
        from rich.text import Text

        nearest = "\n".join(f"{n['change']} ({n['vram_gb']} GB)" for n in L.get("nearest_fits") or [])
        t.add_row("fits instead", Text(nearest or "nothing in the catalog", style="yellow", overflow="fold"), "")
    t.add_row("training cost", (f"[bold]{usd(L['cost_usd'])}[/bold] ({price})" if L["fits"] else
                                "not priced: does not fit"),
              f"[bold]{usd(H['cost_usd'])}[/bold] ({rate(H['usd_per_1m_training'], '1M')})")
    if est.get("ratio"):
        t.add_row("hosted / local", f"{est['ratio']}x", "")
    if S and S.get("local_usd_per_1k") is not None:
        be = S.get("break_even_requests_per_month")
        vol = f"{S['requests_per_month']:,.0f} req/month"
        t.add_row(f"serving / month ({vol})", f"{usd(S['local_monthly_usd'])} ({S['local_gpus']} x {L['gpu']})",
                  usd(S["hosted_monthly_usd"]))
        t.add_row("serving / 1k requests (same bill)",
                  f"{usd(S['local_usd_per_1k'])} ({usd(S['local_marginal_usd_per_1k'])} per 1k more on a card "
                  f"already up, {S['local_tokens_per_s']:,.0f} tok/s)", usd(S["hosted_usd_per_1k"]))
        t.add_row("local cheaper from", "never" if be is None else f"{be:,} requests/month", "")
    if not H.get("available", True):
        t.add_row("availability", "yours to keep", f"[red]{escape(H['unavailable_reason'])}[/red]")
    elif H.get("available_until"):
        t.add_row("availability", "yours to keep", f"[yellow]new jobs until {H['available_until']}[/yellow]")
    t.add_row("prices", escape(f"{L['price_source']} ({L['price_date'] or 'undated'})"),
              escape(f"{H['price_source']} ({H['price_date']})"))
    if L["calibrated_from_runs"]:
        t.add_row("calibration", f"calibrated from {L['calibrated_from_runs']} runs", "")
    console.print(t)
    v = b["vram"]
    parts = ", ".join(f"{k.replace('_', ' ')} {val:.2f}" for k, val in v.items() if val >= 0.005)
    console.print(f"memory (GiB): {parts}")
    if off := b.get("activation_offloading"):
        secs = (b["time"].get("seconds") or {}).get("offload_transfer") or 0.0
        console.print(f"activation offloading: {off['offloaded_gb']:.2f} GiB per micro-batch to host memory and "
                      f"back over {off['host_link_gbs']:g} GB/s ({secs:.3f} s a micro-batch not hidden behind the "
                      "kernels)")
    if L.get("cost_range_usd"):
        lo, hi = L["cost_range_usd"]
        console.print(f"local time and cost range: {L['hours_range'][0]:.1f}-{L['hours_range'][1]:.1f} h, "
                      f"{usd(lo)}-{usd(hi)} (docs/estimates.md)")
    print_candidates(est, show_closed=show_closed)


def print_candidates(est: dict, *, show_closed: bool = False) -> None:
    """Every hosted provider's candidates on the same data and epochs, beside the local estimate: those that
    take jobs today first (the provider that trains the same open weights leading), closed ones only when
    asked for. Below NARROW columns: short model names and availability in days (the dates go below)."""
    from rich.markup import escape
    from rich.table import Table

    from ftwizard.catalog import closing_cell, rank_hosted
    from ftwizard.cli import output

    console = output.out()
    narrow = console.width < NARROW
    L = est["local"]
    cands = rank_hosted(est.get("hosted_candidates") or [], L["model"])
    if not cands:
        return
    hidden = [c for c in cands if not c["available"]]
    shown = cands if show_closed else [c for c in cands if c["available"]]
    t = Table(title=f"Hosted candidates as of {cands[0]['as_of']} (same data, {cands[0]['epochs']:g} epochs), "
                    f"beside local {escape(L['model'].split('/')[-1])} on {L['gpu']}: {usd(L['cost_usd'])}",
              header_style="bold", title_justify="left")
    cols = ("provider", "model", "training", "$/1M", "home", "open") if narrow else \
        ("provider", "model", "training", "$/1M", "price date", "weights home", "availability")
    for col in cols:
        t.add_column(col, overflow="fold", no_wrap=col in ("training", "$/1M", "open"))
    for c in shown:
        if not c["available"]:
            avail = f"[red]{escape(c['unavailable_reason'])}[/red]"
        elif c["training_days_left"] is not None:
            avail = f"new jobs until {c['training_available_until']} ({c['training_days_left']} days)"
            if c["shutdown_days_left"] is not None:
                avail += f", serves until {c['shutdown_date']} ({c['shutdown_days_left']} days)"
        else:
            avail = "open"
        home = "yes" if c["weights_downloadable"] else "no"
        if narrow:
            t.add_row(c["provider"], escape(c["model"].split("/")[-1]), usd(c["cost_usd"]),
                      f"{c['training_usd_per_1m']:g}", home,
                      f"[red]closed[/red]" if not c["available"] else closing_cell(c))
        else:
            t.add_row(c["provider"], escape(c["model"]), usd(c["cost_usd"]), f"{c['training_usd_per_1m']:g}",
                      c["price_date"] or "-", home, avail)
    console.print(t)
    if narrow:
        console.print("open: jobs Nd = new jobs for N more days, off Nd = serving ends in N days", style="dim")
    if hidden and not show_closed:
        console.print(f"--show-closed lists {len(hidden)} more that take no new jobs: "
                      + ", ".join(dict.fromkeys(c["model"].split("/")[-1] for c in hidden)), style="dim", markup=False)
    dates: dict[tuple[str, str], list[str]] = {}
    for c in shown:
        dates.setdefault((c["provider"], c["price_source"]), []).append(c["price_date"] or "undated")
    sources = [f"{p}: {src} ({', '.join(dict.fromkeys(sorted(d)))})" for (p, src), d in sorted(dates.items())]
    console.print("prices: " + "; ".join(sources), style="dim", markup=False)
