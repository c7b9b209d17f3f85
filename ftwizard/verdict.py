"""The verdict: runs compared on accuracy and cost, and one recommendation with its reasons.

`build_verdict(run_dirs)` reads each run directory (recipe.toml, status.json, metrics.json, predictions.jsonl,
cost.json, events.jsonl, train_summary.json), lines the runs up, tests the accuracy gap between the best hosted
and the best local run on the same eval examples (exact McNemar), prices training and serving, and decides.
The CLI (`ftwizard compare`), the report (`ftwizard.report`) and the wizard's last screen all show the same
`Verdict`. Nothing here imports torch, transformers or Textual.

How it decides, in order (DESIGN.md's advice turned into numbers):
1. the data must stay private (`--private-data` or a recipe's `private_data`) -> local;
2. OpenAI's self-serve fine-tuning is closing or closed on `today` (catalog wind-down dates; Azure is not
   affected) -> local, with the date; a clearly better hosted model keeps serving meanwhile;
3. best hosted vs best local on the deciding metric, paired on the same eval examples (exact McNemar, 5%):
   local significantly better -> local; hosted significantly better -> hosted, with the premium and what to
   try locally next (answer-only loss, more steps, a bigger model - each estimated); within the noise -> the
   cheaper over training plus HORIZON_MONTHS of serving at the user's volume (usually local, "and by how much");
4. one side only -> what it showed (gain over the base model) and the next run to make, with its estimate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterable

from ftwizard.errors import UsageError
from ftwizard.fsutil import read_json
from ftwizard.rundir import RunDirectory

ALPHA = 0.05  # significance level of the paired test
HORIZON_MONTHS = 12  # "cheaper" weighs training plus a year of serving at the user's volume
Z95 = 1.959963984540054

# The metric that decides, per task (the first one every compared run has). SQL: the seed's execution accuracy.
PRIMARY_METRICS = {
    "sql": ("execution_match", "normalized_match", "exact_match"),
    "viggo": ("exact_match", "slot_f1", "attribute_set_match", "function_match"),
    "custom": ("exact_match",),
}
METRIC_LABELS = {
    "exact_match": "exact match",
    "normalized_match": "normalized match",
    "execution_match": "execution match",
    "function_match": "function match",
    "attribute_set_match": "attribute-set match",
    "slot_f1": "slot F1",
    "slot_precision": "slot precision",
    "slot_recall": "slot recall",
}


# ---------------------------------------------------------------------------------------------------------
# The pieces

@dataclass
class Metric:
    n: int
    value: float
    ci_low: float
    ci_high: float

    @classmethod
    def from_dict(cls, d: dict) -> "Metric | None":
        try:
            n, value = int(d.get("n") or 0), float(d["value"])
        except (KeyError, TypeError, ValueError):
            return None
        lo, hi = d.get("ci_low"), d.get("ci_high")
        if lo is None or hi is None:
            lo, hi = _wilson(round(value * n), n) if n else (0.0, 1.0)
        return cls(n=n, value=value, ci_low=float(lo), ci_high=float(hi))

    def to_dict(self) -> dict:
        return {"n": self.n, "value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass
class RunRow:
    """One compared run, as the table shows it."""

    run_dir: str
    name: str
    backend: str  # local | hosted
    model: str  # what was fine-tuned (hosted: the fine-tuned model id when known)
    base_model: str  # the catalog id used for prices and estimates
    provider: str  # openai | azure | local
    imported: bool
    state: str
    task: str
    metrics: dict[str, Metric] = field(default_factory=dict)
    baseline: dict[str, Metric] = field(default_factory=dict)
    training_usd: float | None = None
    training_kind: str | None = None  # actual | estimated
    training_hours: float | None = None  # GPU-hours (local) as priced
    trained_tokens: int | None = None
    wall_s: float | None = None
    gpu: str | None = None
    price_per_hour: float | None = None
    quant: str = "none"
    prompt_tokens: float | None = None  # mean per request, from predictions.jsonl
    completion_tokens: float | None = None
    serving_usd_per_1k: float | None = None
    availability: str = ""
    notes: list[str] = field(default_factory=list)
    loss: list[tuple[float, float]] = field(default_factory=list)  # (step, loss)
    eval_loss: list[tuple[float, float]] = field(default_factory=list)
    max_steps: int | None = None
    # not serialized: per-example verdicts for the paired test, and the recipe for next-run estimates
    verdicts: dict[int, dict] = field(default_factory=dict, repr=False)
    references: dict[int, Any] = field(default_factory=dict, repr=False)
    recipe: Any = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.short_model})"

    @property
    def short_model(self) -> str:
        m = self.base_model if self.backend == "hosted" else self.model
        return m.rstrip("/").split("/")[-1] if "/" in m and not m.startswith("ft:") else m

    @property
    def evaluated(self) -> bool:
        return bool(self.metrics)

    def to_dict(self) -> dict:
        return {
            "run_dir": self.run_dir,
            "name": self.name,
            "backend": self.backend,
            "provider": self.provider,
            "model": self.model,
            "base_model": self.base_model,
            "imported": self.imported,
            "state": self.state,
            "task": self.task,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "baseline": {k: m.to_dict() for k, m in self.baseline.items()},
            "training_usd": self.training_usd,
            "training_kind": self.training_kind,
            "training_hours": self.training_hours,
            "trained_tokens": self.trained_tokens,
            "wall_s": self.wall_s,
            "gpu": self.gpu,
            "price_per_hour": self.price_per_hour,
            "quant": self.quant,
            "prompt_tokens_mean": self.prompt_tokens,
            "completion_tokens_mean": self.completion_tokens,
            "serving_usd_per_1k": self.serving_usd_per_1k,
            "availability": self.availability,
            "loss_final": self.loss[-1][1] if self.loss else None,
            "max_steps": self.max_steps,
            "notes": list(self.notes),
        }


@dataclass
class Comparison:
    """The best hosted run against the best local run."""

    metric: str
    hosted_run: str
    local_run: str
    hosted_value: float | None
    local_value: float | None
    difference: float | None  # hosted - local, as a fraction (0.02 = 2 points)
    diff_ci_low: float | None = None
    diff_ci_high: float | None = None
    n_paired: int = 0
    hosted_only: int = 0  # examples only the hosted run got right
    local_only: int = 0
    p_value: float | None = None
    test: str = ""
    significant: bool | None = None
    training_cost_ratio: float | None = None  # hosted / local
    hosted_training_usd: float | None = None
    local_training_usd: float | None = None
    serving_cost_ratio: float | None = None  # hosted / local, per 1,000 requests
    hosted_usd_per_1k: float | None = None
    local_usd_per_1k: float | None = None
    requests_per_month: int | None = None
    hosted_monthly_usd: float | None = None
    local_monthly_usd: float | None = None
    break_even_requests_per_month: float | None = None
    local_marginal_usd_per_1k: float | None = None  # one more 1,000 requests on a GPU already up
    local_tokens_per_s: float | None = None
    serving_source: str = ""
    notes: list[str] = field(default_factory=list)

    def total_usd(self, side: str) -> float | None:
        """Training plus HORIZON_MONTHS of serving at the volume (serving left out when it is not priced)."""
        train = self.hosted_training_usd if side == "hosted" else self.local_training_usd
        monthly = self.hosted_monthly_usd if side == "hosted" else self.local_monthly_usd
        if train is None:
            return None
        if self.hosted_monthly_usd is None or self.local_monthly_usd is None:
            return train
        return train + HORIZON_MONTHS * monthly

    @property
    def better(self) -> str | None:
        """'hosted', 'local', or None when the gap is within the noise."""
        if self.difference is None or not self.significant:
            return None
        return "hosted" if self.difference > 0 else "local"

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "hosted_run": self.hosted_run,
            "local_run": self.local_run,
            "hosted_value": self.hosted_value,
            "local_value": self.local_value,
            "difference": self.difference,
            "difference_ci_low": self.diff_ci_low,
            "difference_ci_high": self.diff_ci_high,
            "test": self.test,
            "n_paired": self.n_paired,
            "hosted_only_correct": self.hosted_only,
            "local_only_correct": self.local_only,
            "p_value": self.p_value,
            "significant": self.significant,
            "better": self.better,
            "hosted_training_usd": self.hosted_training_usd,
            "local_training_usd": self.local_training_usd,
            "training_cost_ratio": self.training_cost_ratio,
            "hosted_usd_per_1k": self.hosted_usd_per_1k,
            "local_usd_per_1k": self.local_usd_per_1k,
            "serving_cost_ratio": self.serving_cost_ratio,
            "requests_per_month": self.requests_per_month,
            "hosted_monthly_usd": self.hosted_monthly_usd,
            "local_monthly_usd": self.local_monthly_usd,
            "break_even_requests_per_month": self.break_even_requests_per_month,
            "local_marginal_usd_per_1k": self.local_marginal_usd_per_1k,
            "local_tokens_per_s": self.local_tokens_per_s,
            "hosted_total_usd": self.total_usd("hosted"),
            "local_total_usd": self.total_usd("local"),
            "horizon_months": HORIZON_MONTHS,
            "serving_source": self.serving_source,
            "notes": list(self.notes),
        }


@dataclass
class NextRun:
    """A run worth making next, with what it would cost."""

    what: str  # "answer-only loss", "more steps", "a bigger model", "the hosted fine-tune", ...
    why: str
    command: str
    changes: dict[str, Any] = field(default_factory=dict)
    backend: str = "local"
    hours: float | None = None
    cost_usd: float | None = None
    estimate_kind: str = "estimated"

    def to_dict(self) -> dict:
        return {"what": self.what, "why": self.why, "command": self.command, "changes": dict(self.changes),
                "backend": self.backend, "hours": self.hours, "cost_usd": self.cost_usd,
                "estimate_kind": self.estimate_kind}

    def describe(self) -> str:
        cost = ""
        if self.cost_usd is not None:
            cost = f" (estimated {_usd(self.cost_usd)}"
            cost += f", {_hours(self.hours)})" if self.hours else ")"
        return f"{self.what}{cost}: {self.why}"


@dataclass
class Recommendation:
    choice: str  # local | hosted | evaluate | next-run
    case: str  # private-data | hosted-closed | hosted-closing | local-better | local-as-good | hosted-better |
    #            hosted-cheaper | single-run | not-evaluated
    sentence: str
    reasons: list[str] = field(default_factory=list)
    next_runs: list[NextRun] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"choice": self.choice, "case": self.case, "sentence": self.sentence, "reasons": list(self.reasons),
                "next_runs": [n.to_dict() for n in self.next_runs]}


@dataclass
class Verdict:
    rows: list[RunRow]
    task: str
    metric: str  # the deciding metric
    metric_names: list[str]
    comparison: Comparison | None
    recommendation: Recommendation
    hosted_availability: dict
    requests_per_month: int
    private_data: bool
    today: date

    def row(self, name_or_dir: str) -> RunRow:
        for r in self.rows:
            if name_or_dir in (r.name, r.run_dir):
                return r
        raise KeyError(name_or_dir)

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "metric": self.metric,
            "metrics": list(self.metric_names),
            "today": self.today.isoformat(),
            "requests_per_month": self.requests_per_month,
            "private_data": self.private_data,
            "hosted_availability": dict(self.hosted_availability),
            "runs": [r.to_dict() for r in self.rows],
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "recommendation": self.recommendation.to_dict(),
        }

    # -- faces ----------------------------------------------------------------------------------------------
    def table_rows(self, *, sep: str = " ") -> tuple[list[str], list[list[str]]]:
        """Header and cells of the runs table (plain strings), shared by rich and markdown.

        `sep` joins the parts of a cell (a value and its interval): "\n" stacks them in a narrow terminal.
        """
        header = ["run", "backend", "model"]
        header += [METRIC_LABELS.get(m, m) + (" *" if m == self.metric else "") for m in self.metric_names]
        header += ["training cost", "wall time", f"serving /1k req at {_volume(self.requests_per_month)}/month",
                   "availability"]
        out = []
        for r in self.rows:
            cells = [r.name, r.backend + (sep + "(imported)" if r.imported else ""), r.short_model]
            for m in self.metric_names:
                cells.append(_metric_cell(r.metrics.get(m), r.baseline.get(m), sep=sep))
            if r.training_usd is None:
                cells.append("-")
            else:
                cells.append(_usd(r.training_usd) + (sep + "(est.)" if r.training_kind == "estimated" else ""))
            cells.append(_duration(r.wall_s) if r.wall_s else "-")
            cells.append(_usd(r.serving_usd_per_1k) if r.serving_usd_per_1k is not None else "-")
            cells.append(r.availability or "-")
            out.append(cells)
        return header, out

    def comparison_lines(self) -> list[str]:
        c = self.comparison
        if c is None:
            return []
        lines = []
        label = METRIC_LABELS.get(c.metric, c.metric)
        if c.difference is not None:
            s = (f"{label}: hosted {c.hosted_run} {_pct(c.hosted_value)} vs local {c.local_run} "
                 f"{_pct(c.local_value)}: difference {_points(c.difference)}")
            if c.diff_ci_low is not None:
                s += f" (95% CI {_points(c.diff_ci_low)} to {_points(c.diff_ci_high)})"
            lines.append(s)
            if c.p_value is not None:
                lines.append(
                    f"{c.test} on {c.n_paired} shared examples: {c.hosted_only} right only hosted, "
                    f"{c.local_only} right only local, p = {_p(c.p_value)} -> "
                    + ("significant" if c.significant else "not significant") + f" at {ALPHA:g}")
        if c.training_cost_ratio is not None:
            lines.append(f"training: hosted {_usd(c.hosted_training_usd)} vs local {_usd(c.local_training_usd)} = "
                         + (f"hosted {_ratio(c.training_cost_ratio)} dearer" if c.training_cost_ratio >= 1
                            else f"local {_ratio(1 / c.training_cost_ratio)} dearer"))
        if c.serving_cost_ratio is not None:
            lines.append(f"serving per 1,000 requests at {c.requests_per_month:,}/month: hosted "
                         f"{_usd(c.hosted_usd_per_1k)} vs local {_usd(c.local_usd_per_1k)} = "
                         + (f"hosted {_ratio(c.serving_cost_ratio)} dearer" if c.serving_cost_ratio >= 1
                            else f"local {_ratio(1 / c.serving_cost_ratio)} dearer"))
        if c.hosted_monthly_usd is not None and c.local_monthly_usd is not None:
            lines.append(f"at {c.requests_per_month:,} requests/month: hosted {_usd(c.hosted_monthly_usd)} vs "
                         f"local {_usd(c.local_monthly_usd)} per month")
        if c.break_even_requests_per_month is not None:
            lines.append(f"local serving is cheaper from {_volume(c.break_even_requests_per_month)} "
                         "requests/month")
        elif c.hosted_usd_per_1k is not None and c.local_usd_per_1k is not None:
            lines.append("local serving never becomes cheaper at these prices")
        lines += c.notes
        return lines

    def to_markdown(self, *, images: dict[str, str] | None = None) -> str:
        header, rows = self.table_rows()
        md = ["# ftwizard verdict", ""]
        md.append(f"Task `{self.task}`, deciding metric **{METRIC_LABELS.get(self.metric, self.metric)}** "
                  f"(marked *), 95% intervals in brackets; {self.requests_per_month:,} requests/month; "
                  f"as of {self.today.isoformat()}.")
        md += ["", "## Recommendation", "", f"**{self.recommendation.sentence}**", ""]
        md += [f"- {r}" for r in self.recommendation.reasons]
        if self.recommendation.next_runs:
            md += ["", "Next runs:", ""]
            md += [f"- {n.describe()}  \n  `{n.command}`" for n in self.recommendation.next_runs]
        md += ["", "## Runs", ""]
        md.append("| " + " | ".join(header) + " |")
        md.append("|" + "---|" * len(header))
        for cells in rows:
            md.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        notes = [f"{r.name}: {n}" for r in self.rows for n in r.notes]
        if notes:
            md += [""] + [f"- {n}" for n in notes]
        lines = self.comparison_lines()
        if lines:
            md += ["", "## Hosted vs local", ""] + [f"- {x}" for x in lines]
            if self.comparison.serving_source:
                md += [f"- serving estimate: {self.comparison.serving_source}"]
        if self.hosted_availability.get("detail"):
            md += ["", f"Hosted availability: {self.hosted_availability['detail']} "
                       f"(source: {self.hosted_availability.get('source', 'catalog')})"]
        for title, path in (images or {}).items():
            md += ["", f"## {title}", "", f"![{title}]({path})"]
        return "\n".join(md) + "\n"

    def to_rich(self):
        """A rich renderable (table, comparison, recommendation) for the CLI and the wizard's last screen."""
        from rich.console import Group
        from rich.markup import escape
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        parts: list[Any] = [_RunsTable(self)]
        notes = [f"{r.name}: {n}" for r in self.rows for n in r.notes]
        if notes:
            parts.append(Text("\n".join(notes), style="dim"))
        lines = self.comparison_lines()
        if lines:
            parts.append(Text("\n".join(lines)))
        rec = self.recommendation
        body = Text()
        body.append(rec.sentence + "\n", style="bold")
        for r in rec.reasons:
            body.append(f"  - {r}\n")
        if rec.next_runs:
            body.append("next runs:\n", style="bold")
            for n in rec.next_runs:
                body.append(f"  - {n.describe()}\n    {n.command}\n")
        body.rstrip()
        parts.append(Panel(body, title="recommendation", title_align="left",
                           border_style="green" if rec.choice in ("local", "hosted") else "yellow"))
        return Group(*parts)


class _RunsTable:
    """The runs table for a terminal: one row per run when it fits the width, else one column per run."""

    def __init__(self, verdict: Verdict):
        self.verdict = verdict

    def __rich_console__(self, console, options):
        from rich.markup import escape
        from rich.table import Table

        v = self.verdict
        title = f"runs compared - task {v.task}, * = deciding metric, [95% interval]"
        header, rows = v.table_rows(sep="\n")
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


# ---------------------------------------------------------------------------------------------------------
# Formatting (shared by every face)

def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _points(d: float) -> str:
    return f"{100 * d:+.1f} points"


def _usd(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"${v:,.0f}"
    if abs(v) >= 0.995 or v == 0:
        return f"${v:,.2f}"
    if abs(v) >= 0.01:
        return f"${v:.3f}"
    return f"${v:.4f}"


def _ratio(r: float) -> str:
    return f"{r:.1f}x" if r < 100 else f"{r:,.0f}x"


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def _hours(h: float | None) -> str:
    if h is None:
        return "-"
    return f"{h:.1f} h" if h >= 1 else f"{60 * h:.0f} min"


def _duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def _volume(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def _metric_cell(m: Metric | None, base: Metric | None, sep: str = " ") -> str:
    if m is None:
        return "-"
    s = f"{_pct(m.value)}{sep}[{100 * m.ci_low:.1f}-{100 * m.ci_high:.1f}]"
    if base is not None:
        s += f"{sep}(base {_pct(base.value)})"
    return s


def _wilson(k: int, n: int) -> tuple[float, float]:
    from ftwizard.evaluation.stats import wilson_interval

    return wilson_interval(k, n)


# ---------------------------------------------------------------------------------------------------------
# Statistics

def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs (b one way, c the other) against Binomial(b+c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # sum_{i<=k} C(n, i) / 2^n, in logs to stay exact enough for thousands of pairs
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(x - top) for x in logs)
    return min(1.0, 2 * tail)


def paired_difference_ci(b: int, c: int, n: int) -> tuple[float, float]:
    """95% interval of the difference of two paired proportions ((b - c) / n), Wald with the paired variance."""
    if n <= 0:
        return (-1.0, 1.0)
    d = (b - c) / n
    var = max(0.0, (b + c) - (b - c) ** 2 / n) / (n * n)
    half = Z95 * math.sqrt(var)
    return (max(-1.0, d - half), min(1.0, d + half))


def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    return None


# ---------------------------------------------------------------------------------------------------------
# Availability of the hosted path (OpenAI's wind-down of self-serve fine-tuning)

def hosted_availability(today: date, provider: str = "openai") -> dict:
    """{state: open|closing|closed, date, detail, source} for creating new hosted fine-tuning jobs."""
    from ftwizard.catalog import wind_down

    wd = wind_down()
    source = wd.get("source", "ftwizard catalog")
    if provider == "azure":
        return {"state": "open", "date": None, "provider": provider, "source": "Azure OpenAI",
                "detail": "Azure OpenAI fine-tuning is not part of OpenAI's wind-down"}
    never = date.fromisoformat(wd["never_fine_tuned"])
    inactive = date.fromisoformat(wd["inactive_60_days"])
    closed = date.fromisoformat(wd["all_jobs_closed"])
    base = {"provider": provider, "source": source, "never_fine_tuned": never.isoformat(),
            "inactive_60_days": inactive.isoformat(), "all_jobs_closed": closed.isoformat()}
    if today >= closed:
        return {**base, "state": "closed", "date": closed.isoformat(),
                "detail": f"OpenAI closed self-serve fine-tuning to new jobs on {closed.isoformat()} "
                          "(existing fine-tuned models keep serving until their base model retires)"}
    if today >= never:
        days = (closed - today).days
        steps = [f"closed since {never.isoformat()} for organisations that never fine-tuned"]
        if today >= inactive:
            steps.append(f"since {inactive.isoformat()} for those without fine-tuned-model inference in the "
                         "last 60 days")
        return {**base, "state": "closing", "date": closed.isoformat(), "days_left": days,
                "detail": f"OpenAI fine-tuning closes to new jobs for everyone on {closed.isoformat()} "
                          f"(in {days} days; " + ", ".join(steps) + ")"}
    return {**base, "state": "open", "date": None, "detail": "OpenAI fine-tuning open for new jobs"}


def _availability_cell(row: RunRow, avail: dict) -> str:
    if row.backend == "local":
        return "yours (open weights)"
    if row.provider == "azure":
        return "open (Azure)"
    if avail["state"] == "closed":
        return f"new jobs closed {avail['date']}"
    if avail["state"] == "closing":
        return f"new jobs close {avail['date']}"
    return "open"


# ---------------------------------------------------------------------------------------------------------
# Estimates (ftwizard.estimate): training cost where none was recorded, next runs, serving

def _estimate_recipe(recipe) -> dict | None:
    from ftwizard.estimate import estimate_recipe

    try:
        return estimate_recipe(recipe)
    except UsageError:  # e.g. a model the catalog cannot size offline: the cell stays empty, with a note
        return None


def serving_costs(*, hosted_model: str, open_model: str, gpu: str | None, price_per_hour: float | None,
                  quant: str, prompt_tokens: float, completion_tokens: float, requests_per_month: int,
                  local_token_ratio: float = 1.0) -> tuple[dict | None, str]:
    """Serving cost per 1,000 requests, monthly costs and break-even (`ftwizard.estimate.serving_estimate`).

    Returns (figures or None, why none). Local serving needs the open model in the catalog (or a config.json)
    and a GPU to rent; without them the local side stays blank rather than guessed.
    """
    from ftwizard.estimate import serving_estimate

    if not gpu or gpu == "cpu":
        # no GPU recorded (a CPU run): price serving on the catalog's reference card at its price, and say so
        gpu, price_per_hour = "A40", None
        note = "no GPU recorded: local serving priced on an A40 at the catalog's price"
    else:
        note = ""
    try:
        out = serving_estimate(hosted_model=hosted_model, open_model=open_model, gpu=gpu,
                               price_per_hour=price_per_hour, quant=quant or "none", prompt_tokens=prompt_tokens,
                               completion_tokens=completion_tokens, requests_per_month=requests_per_month,
                               local_token_ratio=local_token_ratio)
    except UsageError as e:
        return None, f"serving not priced: {e}"
    if out.get("note"):
        note = "; ".join(x for x in (note, out["note"]) if x)
    return out, note


# ---------------------------------------------------------------------------------------------------------
# Reading one run directory

def _read_jsonl(path: Path) -> Iterable[dict]:
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                yield obj


def _safe_json(path: Path, problems: list[str]) -> dict:
    try:
        obj = read_json(path, default={})
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.append(f"{path}: not valid JSON ({e})")
        return {}
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        problems.append(f"{path}: expected a JSON object")
        return {}
    return obj


def read_run(path: str | Path, problems: list[str]) -> RunRow | None:
    """One run directory as a row; problems are collected (not raised) so that all are reported at once."""
    try:
        run = RunDirectory.open(path)
        recipe = run.recipe()
    except UsageError as e:
        problems.append(str(e))
        return None
    status = run.status()
    metrics = _safe_json(run.metrics_path, problems)
    cost = _safe_json(run.cost_path, problems)
    summary = _safe_json(run.path / "train_summary.json", problems)
    backend = status.get("backend") or metrics.get("backend") or recipe.backend
    hosted = backend == "hosted"
    provider = (status.get("provider") or recipe.hosted.provider) if hosted else "local"
    if hosted:
        base_model = recipe.hosted.model
        model = status.get("fine_tuned_model") or base_model
    else:
        base_model = recipe.model.catalog_id or recipe.model.base
        model = summary.get("model") or recipe.model.base
    row = RunRow(run_dir=str(run.path), name=run.name, backend=backend, model=str(model), base_model=str(base_model),
                 provider=provider, imported=bool(status.get("imported")), state=status.get("state", "pending"),
                 task=metrics.get("task") or recipe.task, recipe=recipe, quant=recipe.model.quant)

    for key, target in (("metrics", row.metrics), ("baseline", row.baseline)):
        block = metrics.get(key) or {}
        if key == "baseline" and isinstance(block, dict) and "metrics" in block:
            block = block["metrics"]  # a baseline recorded as a whole metrics object
        for name, d in (block.items() if isinstance(block, dict) else []):
            m = Metric.from_dict(d) if isinstance(d, dict) else None
            if m is not None:
                target[name] = m

    # per-example verdicts (paired test) and token counts (serving cost)
    p_tok, c_tok = [], []
    for obj in _read_jsonl(run.predictions_path):
        idx = obj.get("index")
        if isinstance(idx, int) and isinstance(obj.get("verdicts"), dict):
            row.verdicts[idx] = obj["verdicts"]
            row.references[idx] = obj.get("reference")
        if isinstance(obj.get("prompt_tokens"), (int, float)):
            p_tok.append(obj["prompt_tokens"])
        if isinstance(obj.get("completion_tokens"), (int, float)):
            c_tok.append(obj["completion_tokens"])
    row.prompt_tokens = sum(p_tok) / len(p_tok) if p_tok else None
    row.completion_tokens = sum(c_tok) / len(c_tok) if c_tok else None

    # training cost: actual where run, estimated where not
    row.trained_tokens = status.get("trained_tokens") or cost.get("trained_tokens")
    if cost.get("training_usd") is not None:
        row.training_usd = float(cost["training_usd"])
        row.training_kind = cost.get("training_kind") or "actual"
        row.training_hours = cost.get("hours")
    elif hosted and row.trained_tokens:
        from ftwizard.catalog import get_hosted_model

        try:
            hm = get_hosted_model(base_model)
            row.training_usd = row.trained_tokens * hm.training_usd_per_1m / 1e6
            row.training_kind = "actual"
            row.notes.append(f"training cost from {row.trained_tokens:,} trained tokens x "
                             f"${hm.training_usd_per_1m:g}/1M ({hm.price_date})")
        except UsageError:
            pass
    if row.training_usd is None:
        est = _estimate_recipe(recipe)
        side = (est or {}).get("hosted" if hosted else "local") or {}
        if side.get("cost_usd") is not None:
            row.training_usd = float(side["cost_usd"])
            row.training_kind = "estimated"
            row.training_hours = side.get("hours")
            row.notes.append("training cost estimated (no actual cost recorded)")
        else:
            row.notes.append("no training cost recorded and none could be estimated")

    row.gpu = cost.get("gpu") or summary.get("gpu") or (None if recipe.hardware.gpu == "auto" else recipe.hardware.gpu)
    row.price_per_hour = cost.get("price_per_hour") or recipe.hardware.price_per_hour
    if not hosted and row.gpu and not row.price_per_hour:
        try:
            from ftwizard.catalog import get_gpu  # the estimate engineer's catalog

            row.price_per_hour = get_gpu(row.gpu).default_usd_per_hour
        except Exception:  # noqa: BLE001 - unknown GPU or no catalog: serving cost stays blank
            pass

    started, finished = status.get("started_at"), status.get("finished_at")
    if isinstance(started, (int, float)) and isinstance(finished, (int, float)) and finished >= started:
        row.wall_s = float(finished - started)
    elif summary.get("wall_s"):
        row.wall_s = float(summary["wall_s"])

    for ev in run.iter_events(("metric",)):
        step = ev.get("step")
        if not isinstance(step, (int, float)):
            continue
        if isinstance(ev.get("max_steps"), (int, float)) and ev["max_steps"] > 0:
            row.max_steps = int(ev["max_steps"])
        if isinstance(ev.get("loss"), (int, float)) and math.isfinite(ev["loss"]):
            row.loss.append((float(step), float(ev["loss"])))
        if isinstance(ev.get("eval_loss"), (int, float)) and math.isfinite(ev["eval_loss"]):
            row.eval_loss.append((float(step), float(ev["eval_loss"])))
    if row.max_steps is None:
        row.max_steps = status.get("total_steps") or summary.get("steps") or None

    if row.state != "succeeded":
        row.notes.append(f"run state: {row.state}")
    if not row.metrics:
        row.notes.append(f"not evaluated yet: ftwizard eval {row.run_dir}")
    return row


def loss_still_falling(points: list[tuple[float, float]]) -> bool:
    """True when the last tenth of the loss curve is still clearly (3%+) below the tenth before it."""
    if len(points) < 10:
        return False
    k = max(2, len(points) // 10)
    last = sum(p[1] for p in points[-k:]) / k
    before = sum(p[1] for p in points[-2 * k:-k]) / k
    return before > 0 and (before - last) / before > 0.03


# ---------------------------------------------------------------------------------------------------------
# Building the verdict

def build_verdict(run_dirs: Iterable[str | Path], *, requests_per_month: int | None = None, private_data: bool = False,
                  today: date | None = None) -> Verdict:
    """Compare the runs and decide. Raises UsageError (every problem at once) for unreadable or mismatched runs."""
    run_dirs = list(run_dirs)
    if not run_dirs:
        raise UsageError("compare needs at least one run directory")
    today = today or date.today()
    problems: list[str] = []
    rows = []
    seen = set()
    for p in run_dirs:
        key = str(Path(p).resolve())
        if key in seen:
            problems.append(f"{p}: given twice")
            continue
        seen.add(key)
        r = read_run(p, problems)
        if r is not None:
            rows.append(r)
    if problems:
        raise UsageError(problems)
    tasks = sorted({r.task for r in rows})
    if len(tasks) > 1:
        raise UsageError("the runs are for different tasks (" + ", ".join(f"{r.name}: {r.task}" for r in rows)
                         + "); compare runs of one task")
    task = tasks[0]
    if requests_per_month is None:
        requests_per_month = rows[0].recipe.eval.requests_per_month
    if requests_per_month < 0:
        raise UsageError("--requests-per-month must be 0 or more")
    private = private_data or any(r.recipe.private_data for r in rows)

    metric_names = _metric_names(task, rows)
    metric = _primary_metric(task, rows, metric_names)

    hosted_rows = [r for r in rows if r.backend == "hosted"]
    local_rows = [r for r in rows if r.backend != "hosted"]
    best_h = _best(hosted_rows, metric)
    best_l = _best(local_rows, metric)
    provider = best_h.provider if best_h else (rows[0].recipe.hosted.provider if rows else "openai")
    avail = hosted_availability(today, provider)
    for r in rows:
        r.availability = _availability_cell(r, hosted_availability(today, r.provider) if r.backend == "hosted" else avail)

    _price_serving(rows, best_h, best_l, requests_per_month)
    comparison = _compare(best_h, best_l, metric, requests_per_month) if best_h and best_l else None
    verdict = Verdict(rows=rows, task=task, metric=metric, metric_names=metric_names, comparison=comparison,
                      recommendation=Recommendation("evaluate", "not-evaluated", ""), hosted_availability=avail,
                      requests_per_month=requests_per_month, private_data=private, today=today)
    verdict.recommendation = _recommend(verdict, best_h, best_l)
    return verdict


def _metric_names(task: str, rows: list[RunRow]) -> list[str]:
    try:
        from ftwizard.tasks import get_task

        order = list(get_task(task).metrics)
    except Exception:  # noqa: BLE001
        order = []
    present = [m for r in rows for m in r.metrics]
    names = [m for m in order if m in present]
    names += [m for m in dict.fromkeys(present) if m not in names and m != "slot_precision" and m != "slot_recall"]
    return names


def _primary_metric(task: str, rows: list[RunRow], names: list[str]) -> str:
    evaluated = [r for r in rows if r.metrics]
    for m in PRIMARY_METRICS.get(task, ()) + tuple(names):
        if evaluated and all(m in r.metrics for r in evaluated):
            return m
    return (PRIMARY_METRICS.get(task) or ("exact_match",))[0]


def _best(rows: list[RunRow], metric: str) -> RunRow | None:
    if not rows:
        return None
    scored = [r for r in rows if metric in r.metrics]
    if scored:
        return max(scored, key=lambda r: (r.metrics[metric].value, -(r.training_usd or 0)))
    return rows[0]


def _tokens_for_serving(*rows: RunRow | None) -> tuple[float, float, str]:
    """Mean prompt / completion tokens per request: from the hosted run's billed usage first, then others."""
    for r in rows:
        if r is not None and r.prompt_tokens is not None and r.completion_tokens is not None:
            return r.prompt_tokens, r.completion_tokens, f"tokens per request from {r.name}'s predictions"
    return 500.0, 50.0, "no token counts in predictions: assumed 500 prompt + 50 completion tokens per request"


def _price_serving(rows, best_h, best_l, requests_per_month) -> None:
    """Each row's serving cost per 1,000 requests at the volume; a hosted row is priced against the best local
    run (and the other way round), so one serving_estimate call gives both sides consistently."""
    for r in rows:
        h = r if r.backend == "hosted" else best_h
        l = r if r.backend != "hosted" else best_l
        s, note = _serving_pair(h, l, r.recipe, requests_per_month)
        if s:
            side = "hosted" if r.backend == "hosted" else "local"
            r.serving_usd_per_1k = _per_1k_at_volume(s, side, requests_per_month)
        if note and r.backend != "hosted":
            r.notes.append(note)


def _serving_pair(h: RunRow | None, l: RunRow | None, recipe, requests_per_month: int) -> tuple[dict | None, str]:
    """serving_estimate for a hosted model and an open model, with tokens per request from the predictions:
    the hosted run's billed counts, and the local tokenizer's ratio to them when both runs recorded tokens."""
    p, c, _ = _tokens_for_serving(h, l)
    ratio = 1.0
    if h is not None and l is not None and None not in (h.prompt_tokens, h.completion_tokens, l.prompt_tokens,
                                                         l.completion_tokens):
        ratio = (l.prompt_tokens + l.completion_tokens) / max(1e-9, h.prompt_tokens + h.completion_tokens)
    return serving_costs(hosted_model=h.base_model if h else recipe.hosted.model,
                         open_model=l.base_model if l else (recipe.model.catalog_id or recipe.model.base),
                         gpu=l.gpu if l else None, price_per_hour=l.price_per_hour if l else None,
                         quant=l.quant if l else recipe.model.quant, prompt_tokens=p, completion_tokens=c,
                         requests_per_month=requests_per_month, local_token_ratio=ratio)


def _per_1k_at_volume(s: dict, side: str, requests_per_month: int) -> float | None:
    """Serving cost per 1,000 requests at the user's volume: the monthly bill spread over the month's requests
    (a GPU kept up for few requests costs more per request than its marginal price)."""
    monthly = s.get(f"{side}_monthly_usd")
    if monthly is not None and requests_per_month > 0:
        return 1000 * monthly / requests_per_month
    return s.get(f"{side}_usd_per_1k")


def _compare(h: RunRow, l: RunRow, metric: str, requests_per_month: int) -> Comparison:
    hm, lm = h.metrics.get(metric), l.metrics.get(metric)
    c = Comparison(metric=metric, hosted_run=h.name, local_run=l.name,
                   hosted_value=hm.value if hm else None, local_value=lm.value if lm else None,
                   difference=(hm.value - lm.value) if hm and lm else None, requests_per_month=requests_per_month)
    if hm and lm:
        shared = sorted(set(h.verdicts) & set(l.verdicts))
        mismatched = [i for i in shared if h.references.get(i) is not None and l.references.get(i) is not None
                      and h.references[i] != l.references[i]]
        pairs = []
        for i in shared:
            a, b = _as_bool(h.verdicts[i].get(metric)), _as_bool(l.verdicts[i].get(metric))
            if a is not None and b is not None:
                pairs.append((a, b))
        if mismatched:
            c.notes.append(f"the two runs were evaluated on different examples ({len(mismatched)} indices with "
                           "different references): no paired test; intervals compared instead")
        elif pairs:
            b = sum(1 for x, y in pairs if x and not y)
            cc = sum(1 for x, y in pairs if y and not x)
            c.n_paired, c.hosted_only, c.local_only = len(pairs), b, cc
            c.p_value = mcnemar_exact(b, cc)
            c.test = "exact McNemar test"
            c.significant = c.p_value < ALPHA
            c.diff_ci_low, c.diff_ci_high = paired_difference_ci(b, cc, len(pairs))
            if len(pairs) < min(hm.n, lm.n):
                c.notes.append(f"paired test on the {len(pairs)} examples both runs evaluated")
        if c.p_value is None:
            # no per-example verdicts: the 95% intervals decide (they overlap -> not significant)
            c.test = "95% intervals (no per-example verdicts to pair)"
            c.significant = hm.ci_low > lm.ci_high or lm.ci_low > hm.ci_high
            se = math.sqrt(((hm.ci_high - hm.ci_low) / (2 * Z95)) ** 2 + ((lm.ci_high - lm.ci_low) / (2 * Z95)) ** 2)
            c.diff_ci_low, c.diff_ci_high = c.difference - Z95 * se, c.difference + Z95 * se
    if h.training_usd is not None and l.training_usd is not None:
        c.hosted_training_usd, c.local_training_usd = h.training_usd, l.training_usd
        if l.training_usd > 0:
            c.training_cost_ratio = h.training_usd / l.training_usd
    _, _, src = _tokens_for_serving(h, l)
    s, note = _serving_pair(h, l, l.recipe, requests_per_month)
    if note:
        c.notes.append(note)
    if s:
        c.hosted_usd_per_1k = _per_1k_at_volume(s, "hosted", requests_per_month)
        c.local_usd_per_1k = _per_1k_at_volume(s, "local", requests_per_month)
        c.local_marginal_usd_per_1k = s.get("local_usd_per_1k")
        c.hosted_monthly_usd, c.local_monthly_usd = s.get("hosted_monthly_usd"), s.get("local_monthly_usd")
        c.break_even_requests_per_month = s.get("break_even_requests_per_month")
        c.local_tokens_per_s = s.get("local_tokens_per_s")
        c.serving_source = "; ".join(x for x in (s.get("assumptions", ""), src, s.get("price_source", "")) if x)
        if c.hosted_usd_per_1k is not None and c.local_usd_per_1k:
            c.serving_cost_ratio = c.hosted_usd_per_1k / c.local_usd_per_1k
    return c


# ---------------------------------------------------------------------------------------------------------
# The recommendation

def _run_command(row: RunRow, changes: dict[str, Any]) -> str:
    recipe = str(Path(row.run_dir) / "recipe.toml")
    sets = " ".join(f"--set {k}={_set_value(v)}" for k, v in changes.items())
    return f"ftwizard run {recipe} {sets}".strip()


def _set_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v.replace("-", "").replace("_", "").replace(".", "").replace("/", "").isalnum() else json.dumps(v)
    return str(v)


def _estimate_next(row: RunRow, changes: dict[str, Any], backend: str) -> tuple[float | None, float | None]:
    try:
        recipe = row.recipe.with_updates(changes) if changes else row.recipe
    except Exception:  # noqa: BLE001
        return None, None
    est = _estimate_recipe(recipe)
    side = (est or {}).get(backend) or {}
    return side.get("hours"), side.get("cost_usd")


def _bigger_model(row: RunRow) -> str | None:
    """The next larger open model of the same family in the catalog, if the catalog knows both."""
    from ftwizard.catalog import get_open_model, open_models

    try:
        cur = get_open_model(row.base_model, allow_hub=False)
    except UsageError:
        return None
    bigger = [m for m in open_models() if m.family == cur.family and m.params > cur.params]
    if not bigger:
        return None
    org = cur.id.split("/")[0]
    same_org = [m for m in bigger if m.id.split("/")[0] == org]  # Code Llama 13B before Llama 2 70B
    return min(same_org or bigger, key=lambda m: m.params).id


def local_next_runs(row: RunRow) -> list[NextRun]:
    """What to try locally next to close a gap: answer-only loss, more steps, a bigger model - each estimated."""
    out: list[NextRun] = []
    recipe = row.recipe
    if recipe.train.loss_on == "all":
        ch = {"train.loss_on": "answer"}
        out.append(NextRun("answer-only loss", "the loss was on the whole prompt; learning only the answer puts "
                           "every step into what is scored", _run_command(row, ch), ch))
    falling = loss_still_falling(row.loss)
    if recipe.train.max_steps > 0:
        ch = {"train.max_steps": recipe.train.max_steps * 2}
    else:
        ch = {"train.epochs": recipe.train.epochs * 2}
    why = ("the training loss was still falling at the end" if falling
           else "twice the training on the same data")
    more = NextRun("more steps", why, _run_command(row, ch), ch)
    bigger = _bigger_model(row)
    if bigger:
        ch = {"model.base": bigger}
        big = NextRun(f"a bigger model ({bigger})", f"more capacity than {row.short_model}",
                      _run_command(row, ch), ch)
    else:
        big = NextRun("a bigger model", f"more capacity than {row.short_model} (set model.base)",
                      f"ftwizard estimate {Path(row.run_dir) / 'recipe.toml'} --model MODEL_ID", {})
    # a loss still falling says the cheapest next step is more of the same; a flat one says more capacity
    out += [more, big] if falling else [big, more]
    for n in out:
        if n.changes:
            n.hours, n.cost_usd = _estimate_next(row, n.changes, "local")
    return out


def _other_side_run(row: RunRow, *, hosted_open: bool) -> NextRun | None:
    if row.backend == "hosted":
        ch = {"backend": "local"}
        n = NextRun(f"the local LoRA run ({row.recipe.model.base.split('/')[-1]})",
                    "the same data and prompts on an open model, to compare on the same eval examples",
                    _run_command(row, ch), ch, backend="local")
        n.hours, n.cost_usd = _estimate_next(row, ch, "local")
        return n
    if not hosted_open:
        return None
    ch = {"backend": "hosted"}
    n = NextRun(f"the hosted fine-tune ({row.recipe.hosted.model})",
                "validates whether fine-tuning works for the task with a fully managed model",
                _run_command(row, ch), ch, backend="hosted")
    n.hours, n.cost_usd = _estimate_next(row, ch, "hosted")
    return n


def _showed(row: RunRow, metric: str) -> str:
    m = row.metrics.get(metric)
    label = METRIC_LABELS.get(metric, metric)
    if m is None:
        return f"{row.name} is not evaluated yet"
    s = f"{row.name} ({row.short_model}) reached {_pct(m.value)} {label} (95% CI {_pct(m.ci_low)}-{_pct(m.ci_high)})"
    base = row.baseline.get(metric)
    if base is not None:
        s += f", {_points(m.value - base.value)} over the base model ({_pct(base.value)})"
        if m.value - base.value < 0.005:
            # The deciding metric shows nothing (a small model rarely gets a whole answer exactly right): say where
            # fine-tuning did move the needle, if anywhere.
            gains = {k: row.metrics[k].value - b.value for k, b in row.baseline.items()
                     if k != metric and k in row.metrics and row.metrics[k].value - b.value >= 0.005}
            # The task's own order of metrics first (slot F1 before its precision / recall), else the largest.
            preferred = [k for k in PRIMARY_METRICS.get(row.recipe.task, ()) if k in gains]
            if gains:
                k = preferred[0] if preferred else max(gains, key=gains.get)
                gain = gains[k]
                s += (f"; its clearest gain is in {METRIC_LABELS.get(k, k)}: {_pct(row.metrics[k].value)}, "
                      f"{_points(gain)} over the base model ({_pct(row.baseline[k].value)})")
    return s


def _cost_reasons(c: Comparison) -> list[str]:
    out = []
    if c.training_cost_ratio is not None:
        out.append(f"training: {_usd(c.hosted_training_usd)} hosted vs {_usd(c.local_training_usd)} local "
                   f"({_ratio(c.training_cost_ratio)})")
    if c.serving_cost_ratio is not None:
        s = (f"serving at {c.requests_per_month:,} requests/month: {_usd(c.hosted_usd_per_1k)} hosted vs "
             f"{_usd(c.local_usd_per_1k)} local per 1,000 requests")
        if c.hosted_monthly_usd is not None and c.local_monthly_usd is not None:
            s += f" ({_usd(c.hosted_monthly_usd)} vs {_usd(c.local_monthly_usd)} a month)"
        out.append(s)
    if c.break_even_requests_per_month is not None:
        out.append(f"local serving is cheaper from {_volume(c.break_even_requests_per_month)} requests/month")
    h_total, l_total = c.total_usd("hosted"), c.total_usd("local")
    if h_total is not None and l_total is not None and c.hosted_monthly_usd is not None \
            and c.local_monthly_usd is not None:
        out.append(f"training plus {HORIZON_MONTHS} months of serving: {_usd(h_total)} hosted vs {_usd(l_total)} local")
    return out


def _gap_reason(c: Comparison) -> str:
    label = METRIC_LABELS.get(c.metric, c.metric)
    s = f"{label}: {c.hosted_run} {_pct(c.hosted_value)} vs {c.local_run} {_pct(c.local_value)} ({_points(c.difference)}"
    if c.diff_ci_low is not None:
        s += f", 95% CI {_points(c.diff_ci_low)} to {_points(c.diff_ci_high)}"
    s += ")"
    if c.p_value is not None:
        s += f"; {c.test} p = {_p(c.p_value)} on {c.n_paired} shared examples"
    s += " - significant" if c.significant else " - not a significant difference"
    return s


def _cheaper_local(c: Comparison) -> tuple[bool | None, str]:
    """Is local cheaper over HORIZON_MONTHS (training + serving at the volume), and a phrase saying how."""
    parts = []
    if c.training_cost_ratio is not None and c.training_cost_ratio > 0:
        parts.append(f"{_ratio(c.training_cost_ratio)} cheaper to train" if c.training_cost_ratio >= 1
                     else f"{_ratio(1 / c.training_cost_ratio)} dearer to train")
    monthly = c.hosted_monthly_usd is not None and c.local_monthly_usd is not None
    if monthly:
        diff = c.hosted_monthly_usd - c.local_monthly_usd
        if diff >= 0:
            parts.append(f"{_usd(diff)} a month cheaper to serve at {c.requests_per_month:,} requests")
        elif c.break_even_requests_per_month is not None:
            parts.append(f"though {_usd(-diff)} a month dearer to serve below "
                         f"{_volume(c.break_even_requests_per_month)} requests/month")
        else:
            parts.append(f"though {_usd(-diff)} a month dearer to serve at {c.requests_per_month:,} requests")
    phrase = ", ".join(parts[:1]) + ((" " if parts[1].startswith("though") else " and ") + parts[1]
                                     if len(parts) > 1 else "")
    h_total, l_total = c.total_usd("hosted"), c.total_usd("local")
    if h_total is None or l_total is None:
        return None, phrase
    return l_total <= h_total, phrase


def _recommend(v: Verdict, best_h: RunRow | None, best_l: RunRow | None) -> Recommendation:
    metric, c = v.metric, v.comparison
    label = METRIC_LABELS.get(metric, metric)
    avail = v.hosted_availability
    hosted_open = avail["state"] == "open" and not v.private_data
    reasons: list[str] = []
    # what each side showed (always useful, every case)
    for r in (best_h, best_l):
        if r is not None and r.metrics.get(metric):
            reasons.append(_showed(r, metric))
    for side, best in (("hosted", best_h), ("local", best_l)):
        scored = [r for r in v.rows if r.backend == side and metric in r.metrics and r is not best]
        if best is not None and scored:
            reasons.append(f"best of {len(scored) + 1} {side} runs: {best.name}; the others: " + ", ".join(
                f"{r.name} {_pct(r.metrics[metric].value)}" for r in scored))
    if c is not None and c.difference is not None:
        reasons.append(_gap_reason(c))
        if not c.significant and c.diff_ci_low is not None and c.diff_ci_high - c.diff_ci_low > 0.10:
            reasons.append(f"with {c.n_paired or 'these'} eval examples a gap of up to "
                           f"{100 * max(abs(c.diff_ci_low), abs(c.diff_ci_high)):.0f} points cannot be ruled out: "
                           "evaluate on more examples for a sharper answer")
    if c is not None:
        reasons += _cost_reasons(c)

    # 1. the data must stay private
    if v.private_data:
        if best_l is not None:
            sentence = (f"Use the local LoRA model ({best_l.short_model}): the data must stay on your machines, "
                        "which rules out hosted fine-tuning")
            if c is not None and c.better == "hosted":
                sentence += f"; the hosted run was {_points(c.difference)[1:]} better, which is the price of privacy"
            nexts = local_next_runs(best_l) if (c is not None and c.better == "hosted") else []
            return Recommendation("local", "private-data", sentence + ".", reasons, nexts)
        n = _other_side_run(best_h, hosted_open=False) if best_h else None
        return Recommendation("local", "private-data",
                              "Train a local LoRA model: the data must stay on your machines, which rules out "
                              "hosted fine-tuning.", reasons, [n] if n else [])

    # 2. the hosted path is closing or closed (OpenAI's wind-down)
    if avail["state"] in ("closing", "closed"):
        when = (f"closes to new jobs on {avail['date']} (in {avail.get('days_left')} days)"
                if avail["state"] == "closing" else f"closed to new jobs on {avail['date']}")
        reasons.insert(0, avail["detail"])
        target = best_l.short_model if best_l else "an open model"
        sentence = f"Move to local LoRA ({target}): OpenAI fine-tuning {when}"
        nexts: list[NextRun] = []
        if c is not None and c.better == "hosted":
            sentence += (f"; your hosted fine-tune is {_points(c.difference)[1:]} better and keeps serving until its "
                         "base model retires, so keep it while you close the gap locally")
            nexts = local_next_runs(best_l)
        elif c is not None and c.difference is not None:
            _, how = _cheaper_local(c)
            sentence += "; the local model is " + ("better" if c.better == "local" else "as good within the interval")
            sentence += f", {how}" if how else ""
        elif best_l is None and best_h is not None:
            n = _other_side_run(best_h, hosted_open=False)
            nexts = [n] if n else []
            if n is not None:
                sentence += f"; next, run {n.what}" + (f" (estimated {_usd(n.cost_usd)})" if n.cost_usd else "")
                sentence += " on the same data and compare"
        elif best_l is not None:
            reasons.append(f"{best_l.name}: the local path stays open whatever OpenAI decides")
            nexts = local_next_runs(best_l)
        case = "hosted-closed" if avail["state"] == "closed" else "hosted-closing"
        return Recommendation("local", case, sentence + ".", reasons, nexts)

    # 3. both sides evaluated: the numbers decide
    if c is not None and c.difference is not None:
        cheaper, how = _cheaper_local(c)
        if c.better == "local":
            s = f"Use the local LoRA model ({best_l.short_model}): it is {_points(-c.difference)[1:]} better on {label}"
            return Recommendation("local", "local-better", s + (f", {how}." if how else "."), reasons)
        if c.better is None:
            if cheaper is not False:
                s = (f"Use the local LoRA model ({best_l.short_model}): it is as good as {best_h.short_model} within "
                     f"the interval ({_points(-c.difference)} on {label}, not significant), {how}")
                return Recommendation("local", "local-as-good", s.rstrip(", ") + ".", reasons)
            s = (f"Keep the hosted fine-tune ({best_h.short_model}): it is as accurate within the interval and cheaper "
                 f"at {v.requests_per_month:,} requests/month ({_usd(c.total_usd('hosted'))} vs "
                 f"{_usd(c.total_usd('local'))} for training and {HORIZON_MONTHS} months of serving)")
            if c.break_even_requests_per_month is not None:
                s += f"; local becomes cheaper from {_volume(c.break_even_requests_per_month)} requests/month"
            return Recommendation("hosted", "hosted-cheaper", s + ".", reasons)
        # hosted clearly better
        s = f"Use the hosted fine-tune ({best_h.short_model}): it is {_points(c.difference)[1:]} better on {label}"
        prem = []
        if c.training_cost_ratio is not None and c.training_cost_ratio > 1:
            prem.append(f"{_ratio(c.training_cost_ratio)} the training cost")
        if c.hosted_monthly_usd is not None and c.local_monthly_usd is not None \
                and c.hosted_monthly_usd > c.local_monthly_usd:
            prem.append(f"{_usd(c.hosted_monthly_usd - c.local_monthly_usd)} a month more to serve at "
                        f"{v.requests_per_month:,} requests")
        elif c.serving_cost_ratio is not None and c.serving_cost_ratio > 1:
            prem.append(f"{_ratio(c.serving_cost_ratio)} the serving cost per request")
        if prem:
            s += ", at a premium of " + " and ".join(prem)
        nexts = local_next_runs(best_l)
        s += "; to close the gap locally, try " + ", ".join(n.what for n in nexts)
        return Recommendation("hosted", "hosted-better", s + ".", reasons, nexts)

    # 4. runs of one side only (or one run): what it showed, and the next run to make
    evaluated = [r for r in (best_h, best_l) if r is not None and r.metrics.get(metric)]
    if not evaluated:
        names = " ".join(r.run_dir for r in v.rows if not r.metrics)
        return Recommendation("evaluate", "not-evaluated",
                              f"Evaluate first: no accuracy on record yet (ftwizard eval {names}).", reasons)
    if c is not None:  # both sides present but one is not evaluated
        missing = best_l if not best_l.metrics.get(metric) else best_h
        return Recommendation("evaluate", "not-evaluated",
                              f"Evaluate {missing.name} before deciding: ftwizard eval {missing.run_dir}.", reasons)
    row = evaluated[0]
    n = _other_side_run(row, hosted_open=hosted_open)
    nexts = [n] if n else local_next_runs(row)
    sentence = _showed(row, metric)
    if n is not None:
        sentence += f"; next, run {n.what}"
        if n.cost_usd is not None:
            sentence += f" (estimated {_usd(n.cost_usd)})"
        sentence += " to compare on the same examples"
    return Recommendation("next-run", "single-run", sentence + ".", reasons, nexts)
