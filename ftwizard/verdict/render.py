"""The verdict for people: number formats, the runs table, the comparison lines, markdown and rich."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftwizard.fmt import usd  # decide formats dollars through render too
from ftwizard.verdict.model import ALPHA

if TYPE_CHECKING:
    from ftwizard.verdict.model import Metric, NextRun, Verdict


# ---------------------------------------------------------------------------------------------------------
# Formats (shared by every face)

def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def points(d: float) -> str:
    return f"{100 * d:+.1f} points" if abs(d) >= 0.0005 else "+0.0 points"  # never "-0.0"


def ratio(r: float) -> str:
    return f"{r:.1f}x" if r < 100 else f"{r:,.0f}x"


def p_value(p: float) -> str:
    """The exact p-value, never floored: 0.043, 0.0012, 1.2e-7."""
    if p >= 0.001:
        return f"{p:.2g}"
    mantissa, exp = f"{p:.1e}".split("e")
    return f"{mantissa}e{int(exp)}"


def gain_line(v: "Verdict", row) -> str | None:
    """'demo: meaning match 20.0% vs 0.0% untuned, +20.0 points (95% CI ...); exact McNemar p = 1.2e-7 on 120
    paired examples (24 right only tuned vs 0 right only untuned)'; None when the run has no baseline."""
    from ftwizard.verdict.compare import gain_over_base

    g = gain_over_base(row, v.metric)
    if g is None:
        return None
    m, base = row.metrics[v.metric], row.baseline[v.metric]
    s = (f"{row.name}: {v.label(v.metric)} {pct(m.value)} vs {pct(base.value)} untuned, "
         f"{points(g['difference'])}")
    if g["ci_low"] is not None:
        s += f" (95% CI {points(g['ci_low'])} to {points(g['ci_high'])})"
    if g["p_value"] is not None:
        s += (f"; {g['test']} p = {p_value(g['p_value'])} on {g['n']} paired examples ({g['tuned_only']} right "
              f"only tuned vs {g['base_only']} right only untuned)")
    else:
        s += f"; {g['test']}"
    return s + (" - significant" if g["significant"] else " - not significant") + f" at {ALPHA:g}"


def gain_lines(v: "Verdict") -> list[str]:
    return [x for x in (gain_line(v, r) for r in v.rows) if x]


def hours(h: float | None) -> str:
    return "-" if h is None else duration(3600 * h)


def duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def volume(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def be_phrase(n: float) -> str:
    """'523k requests/month', or 'the first request' when hourly hosted serving costs more than a whole card."""
    return "the first request (hosted serving rents a whole endpoint)" if n == 0 else f"{volume(n)} requests/month"


def next_run_line(n: "NextRun") -> str:
    """'Qwen3-14B in 4-bit (estimated $3.10, $2.50-$4.00, 2.1 h on A100 80GB): why'."""
    cost = ""
    if n.cost_usd is not None:
        cost = f" (estimated {usd(n.cost_usd)}"
        if n.cost_range_usd:
            cost += f", {usd(n.cost_range_usd[0])}-{usd(n.cost_range_usd[1])}"
        cost += (f", {hours(n.hours)}" if n.hours else "") + (f" on {n.gpu}" if n.gpu else "") + ")"
    return f"{n.what}{cost}: {n.why}"


def metric_cell(m: "Metric | None", base: "Metric | None", sep: str = " ") -> str:
    if m is None:
        return "-"
    s = f"{pct(m.value)}{sep}[{100 * m.ci_low:.1f}-{100 * m.ci_high:.1f}]"
    if base is not None:
        s += f"{sep}(base {pct(base.value)})"
    return s


# ---------------------------------------------------------------------------------------------------------
# The runs table and the comparison

def table_rows(v: "Verdict", *, sep: str = " ") -> tuple[list[str], list[list[str]]]:
    """Header and cells of the runs table (plain strings), shared by rich and markdown.

    `sep` joins the parts of a cell (a value and its interval): "\n" stacks them in a narrow terminal.
    """
    header = ["run", "backend", "model"]
    header += [v.label(m) + (" *" if m == v.metric else "") for m in v.metric_names]
    header += ["training cost", "wall time", f"serving /1k req at {volume(v.requests_per_month)}/month",
               "availability"]
    out = []
    for r in v.rows:
        cells = [r.name, r.backend + (sep + "(imported)" if r.imported else ""), r.short_model]
        for m in v.metric_names:
            cells.append(metric_cell(r.metrics.get(m), r.baseline.get(m), sep=sep))
        if r.training_usd is None:
            cells.append("-")
        else:
            cell = usd(r.training_usd)
            if r.training_kind == "estimated":
                cell += sep + (f"(est. {usd(r.training_usd_range[0])}-{usd(r.training_usd_range[1])})"
                               if r.training_usd_range else "(est.)")
            cells.append(cell)
        cells.append(duration(r.wall_s) if r.wall_s else "-")
        cells.append(usd(r.serving_usd_per_1k) if r.serving_usd_per_1k is not None else "-")
        cells.append(r.availability or "-")
        out.append(cells)
    return header, out


def comparison_lines(v: "Verdict") -> list[str]:
    c = v.comparison
    if c is None:
        return []
    lines = []
    label = v.label(c.metric)
    if c.difference is not None:
        s = (f"{label}: hosted {c.hosted_run} {pct(c.hosted_value)} vs local {c.local_run} "
             f"{pct(c.local_value)}: difference {points(c.difference)}")
        if c.diff_ci_low is not None:
            s += f" (95% CI {points(c.diff_ci_low)} to {points(c.diff_ci_high)})"
        lines.append(s)
        if c.p_value is not None:
            lines.append(
                f"{c.test} on {c.n_paired} shared examples: {c.hosted_only} right only hosted, "
                f"{c.local_only} right only local, p = {p_value(c.p_value)} -> "
                + ("significant" if c.significant else "not significant") + f" at {ALPHA:g}")
        if c.local_non_inferior is not None:
            lines.append(f"local within the {100 * c.margin:g}-point margin: "
                         + ("yes" if c.local_non_inferior else "not shown")
                         + f" (the interval's upper end is {points(c.diff_ci_high)})")
    if c.training_cost_ratio is not None:
        lines.append(f"training: hosted {usd(c.hosted_training_usd)} vs local {usd(c.local_training_usd)} = "
                     + ("the same" if abs(c.training_cost_ratio - 1) < 0.005
                        else f"hosted {ratio(c.training_cost_ratio)} dearer" if c.training_cost_ratio >= 1
                        else f"local {ratio(1 / c.training_cost_ratio)} dearer"))
    if c.hosted_usd_per_1k is not None and c.local_usd_per_1k is not None:
        lines.append(f"serving at {c.requests_per_month:,} requests/month: hosted {usd(c.hosted_monthly_usd)} vs "
                     f"local {usd(c.local_monthly_usd)} a month = {usd(c.hosted_usd_per_1k)} vs "
                     f"{usd(c.local_usd_per_1k)} per 1,000 requests"
                     + (f" (local {usd(c.local_marginal_usd_per_1k)} per 1,000 more on a card already up)"
                        if c.local_marginal_usd_per_1k is not None else ""))
    if c.break_even_requests_per_month is not None:
        lines.append(f"local serving is cheaper from {be_phrase(c.break_even_requests_per_month)}")
    elif c.hosted_usd_per_1k is not None and c.local_usd_per_1k is not None:
        lines.append("local serving never becomes cheaper at these prices")
    lines += c.notes
    return lines


def to_markdown(v: "Verdict", *, images: dict[str, str] | None = None) -> str:
    header, rows = table_rows(v)
    md = ["# ftwizard verdict", ""]
    md.append(f"Task `{v.task}`, deciding metric **{v.label(v.metric)}** (marked *), 95% intervals in brackets; "
              f"margin {100 * v.margin:g} points; {v.requests_per_month:,} requests/month; "
              f"as of {v.today.isoformat()}.")
    rec = v.recommendation
    md += ["", "## Recommendation", "", f"**{rec.sentence}**"]
    if rec.next_runs:
        md += ["", "Next runs:", ""]
        md += [f"- {next_run_line(n)}  \n  `{n.command}`" for n in rec.next_runs]
    if rec.reasons:
        md += ["", "Why:", ""] + [f"- {r}" for r in rec.reasons]
    md += ["", "## Runs", ""]
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "---|" * len(header))
    for cells in rows:
        md.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = [f"{r.name}: {n}" for r in v.rows for n in r.notes]
    if notes:
        md += [""] + [f"- {n}" for n in notes]
    gains = gain_lines(v)
    if gains:
        md += ["", "## Gain over the untuned model", ""] + [f"- {x}" for x in gains]
    lines = comparison_lines(v)
    if lines:
        md += ["", "## Hosted vs local", ""] + [f"- {x}" for x in lines]
        if v.comparison.serving_source:
            md += [f"- serving estimate: {v.comparison.serving_source}"]
    if v.hosted_availability.get("detail"):
        md += ["", f"Hosted availability: {v.hosted_availability['detail']} "
                   f"(source: {v.hosted_availability.get('source', 'catalog')})"]
    for title, path in (images or {}).items():
        md += ["", f"## {title}", "", f"![{title}]({path})"]
    return "\n".join(md) + "\n"


def to_rich(v: "Verdict", *, commands_in_panel: bool = True):
    """A rich renderable for the CLI and the wizard's last screen: the runs table, notes, the comparison, the
    reasons the decision used, and last the recommendation panel (its sentence and the next runs with commands).

    `commands_in_panel=False` (the CLI): the next runs' commands follow the panel, one a line, and notes are
    never wrapped - printed with `crop=False` a command stays one line a terminal can copy whole."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    parts: list[Any] = [RunsTable(v)]
    notes = [f"{r.name}: {n}" for r in v.rows for n in r.notes]
    if notes:
        parts.append(Text("\n".join(notes), style="dim", no_wrap=not commands_in_panel, overflow="ignore"
                          if not commands_in_panel else None))
    gains = gain_lines(v)
    if gains:
        parts.append(Text("gain over the untuned model:\n", style="bold").append("\n".join(gains), style=""))
    lines = comparison_lines(v)
    if lines:
        parts.append(Text("\n".join(lines)))
    rec = v.recommendation
    if rec.reasons:  # what the decision used; above the panel, so the panel itself fits a small terminal
        why = Text("why:\n", style="bold")
        for r in rec.reasons:
            why.append(f"  - {r}\n", style="")
        why.rstrip()
        parts.append(why)
    body = Text()
    body.append(rec.sentence + "\n", style="bold")
    if rec.next_runs:
        body.append("next runs:\n", style="bold")
        for n in rec.next_runs:
            body.append(f"  - {next_run_line(n)}\n" + (f"    {n.command}\n" if commands_in_panel else ""))
    body.rstrip()
    parts.append(Panel(body, title="recommendation", title_align="left",
                       border_style="green" if rec.choice in ("local", "hosted") else "yellow"))
    if rec.next_runs and not commands_in_panel:
        parts.append(Text("\n".join(n.command for n in rec.next_runs), no_wrap=True, overflow="ignore"))
    return Group(*parts)


class RunsTable:
    """The runs table for a terminal: one row per run when it fits the width, else one column per run."""

    def __init__(self, verdict: "Verdict"):
        self.verdict = verdict

    def __rich_console__(self, console, options):
        from rich.markup import escape
        from rich.table import Table

        v = self.verdict
        title = f"runs compared - task {v.task}, * = deciding metric, [95% interval]"
        header, rows = table_rows(v, sep="\n")
        widths = [max([len(h)] + [max(len(x) for x in r[i].split("\n")) for r in rows]) for i, h in enumerate(header)]
        if sum(widths) + 3 * len(widths) + 1 <= options.max_width:
            table = Table(title=title, title_justify="left")
            for i, h in enumerate(header):
                table.add_column(h, justify="right" if 3 <= i < len(header) - 1 else "left", no_wrap=True)
            for cells in rows:
                table.add_row(*[escape(c) for c in cells])
        else:
            table = Table(title=title, title_justify="left", show_header=False)
            table.add_column("", style="bold", overflow="fold")
            for _ in rows:
                table.add_column("", overflow="fold")
            for i, h in enumerate(header):
                table.add_row(escape(h), *[escape(r[i]) for r in rows], end_section=(i == 0))
        yield table
