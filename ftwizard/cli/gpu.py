"""`ftwizard gpu`: hardware check: GPUs, memory, drivers, prices."""

from __future__ import annotations

HELP = "hardware check: GPUs, memory, drivers, prices"


def register(sub) -> None:
    p = sub.add_parser("gpu", help=HELP, description=HELP)
    p.add_argument("--price-per-hour", type=float, metavar="USD",
                   help="your price per GPU-hour (else FTWIZARD_PRICE_PER_HOUR, else the catalog's)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="where runs are written (free disk is shown)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ftwizard.cli import output
    from ftwizard.estimate import _positive, default_runs_dir
    from ftwizard.hardware import detect

    price = _positive("--price-per-hour", args.price_per_hour)
    info = detect(default_runs_dir(args.runs_dir), price_per_hour=price)
    if args.json:
        output.print_json(info)
        return 0
    print_report(info)
    return 0


def print_report(info: dict) -> None:
    from rich.table import Table

    from ftwizard.cli import output

    con = output.out()
    if info["gpus"]:
        t = Table(title=f"GPUs (via {info['gpu_source']})", header_style="bold")
        for col in ("#", "name", "VRAM total", "VRAM free", "util", "compute", "driver", "CUDA", "catalog", "$/h"):
            t.add_column(col)
        for g in info["gpus"]:
            def gb(v):
                return "-" if v is None else f"{v:.1f} GiB"  # read in bytes / 2**30
            t.add_row(str(g["index"]), g["name"], gb(g.get("vram_total_gb")), gb(g.get("vram_free_gb")),
                      "-" if g.get("utilization_pct") is None else f"{g['utilization_pct']}%",
                      g.get("compute_capability") or "-", g.get("driver_version") or "-", g.get("cuda_version") or "-",
                      g.get("catalog") or "not in catalog",
                      "-" if g.get("price_per_hour") is None else f"{g['price_per_hour']:g}")
        con.print(t)
        for g in info["gpus"]:
            if g.get("price_source"):
                con.print(f"  #{g['index']} price: {g['price_source']} ({g.get('price_date') or 'undated'})")
    else:
        con.print("[yellow]No NVIDIA GPU found[/yellow]: running in CPU mode (training works, slowly: see the "
                  "viggo-cpu-demo recipe). `ftwizard estimate --gpu NAME` prices a card you could rent.")
    t = Table(show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("CPU", f"{info['cpu']} - {info['cpu_cores']} cores, {info['cpu_threads']} threads")
    t.add_row("RAM", f"{info['ram_gb']} GiB ({info['ram_available_gb']} GiB available)")
    t.add_row("disk", f"{info['disk_free_gb']} GiB free at {info['disk_path']}")
    t.add_row("Python", info["python"])
    t.add_row("torch", info["torch"] or "not installed")
    con.print(t)
    for d in info.get("diagnostics", []) if not info["gpus"] else []:
        output.info(f"  {d}")
