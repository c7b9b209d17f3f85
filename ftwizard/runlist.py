"""Past runs as `ftwizard runs` and the wizard's Runs screen list them: state, the deciding metric with its 95%
interval, training cost and age. Each run is read by the verdict's reader (`ftwizard.verdict.read_run`) and its
deciding metric named by its task (`Task.primary_metric`); nothing here computes a figure of its own.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ftwizard.errors import UsageError
from ftwizard.fmt import usd


@dataclass(frozen=True)
class RunSummary:
    run_dir: str
    name: str
    backend: str
    provider: str
    model: str
    task: str
    state: str
    metric: str = ""                   # the deciding metric's name ('' when the run's task cannot say)
    metric_label: str = ""
    value: float | None = None         # None: not evaluated yet
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    training_usd: float | None = None
    training_kind: str | None = None   # actual | estimated
    created_at: float | None = None    # unix seconds
    notes: list[str] = field(default_factory=list)

    def to_dict(self, now: float | None = None) -> dict:
        d = asdict(self)
        d["age_s"] = self.age_s(now)
        return d

    def age_s(self, now: float | None = None) -> float | None:
        return None if self.created_at is None else max(0.0, (time.time() if now is None else now) - self.created_at)

    def metric_cell(self, with_name: bool = True) -> str:
        """`meaning match 0.850 [0.68, 0.97]` (without the name when a column header says it), `-` when not
        evaluated."""
        if self.value is None:
            return "-"
        cell = (f"{self.metric_label or self.metric} " if with_name else "") + f"{self.value:.3f}"
        if self.ci_low is not None and self.ci_high is not None:
            cell += f" [{self.ci_low:.2f}, {self.ci_high:.2f}]"
        return cell

    def cost_cell(self) -> str:
        if self.training_usd is None:
            return "-"
        return usd(self.training_usd) + (" (est.)" if self.training_kind == "estimated" else "")


def metric_header(summaries: list[RunSummary]) -> tuple[str, bool]:
    """The deciding metric when every run decides on the same one ('' when they differ: then each cell names
    its own), and whether the cells must name it."""
    labels = {s.metric_label or s.metric for s in summaries if s.value is not None} or \
        {s.metric_label or s.metric for s in summaries}
    if len(labels) == 1:
        return labels.pop(), False
    return "", True


def where(s: RunSummary) -> str:
    """`local`, or the hosted provider (`openai`, `together`, ...)."""
    return s.backend if s.backend == "local" else s.provider


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def summarize_run(path: str | os.PathLike) -> RunSummary:
    """One run directory as a summary line; UsageError when it is not a readable run."""
    from ftwizard.tasks import get_task
    from ftwizard.verdict import read_run

    problems: list[str] = []
    row = read_run(path, problems)
    if row is None:
        raise UsageError(problems)
    task = get_task(row.task, row.recipe)
    # what the run reported tells a custom `auto` task its metric, without reading data that may have moved
    specs = task.metric_specs(row.recipe, reported=row.metrics)
    metric = task.primary_metric(row.recipe, reported=row.metrics)
    if metric not in row.metrics:  # a run scored before its task decided on this metric: its first one on record
        metric = next((s.name for s in specs if s.name in row.metrics), metric)
    label = next((s.label for s in specs if s.name == metric), metric)
    m = row.metrics.get(metric)
    from ftwizard.runs.directory import RunDirectory

    run = RunDirectory(row.run_dir)
    status = run.status()
    created = status.get("created_at")
    state, notes = row.state, list(row.notes)
    if state in ("pending", "running") and _worker_gone(run, status):
        from ftwizard.backends import backend_for
        from ftwizard.runs.events import Progress, fold_status
        from ftwizard.runs.failures import explain

        state = "gone"  # said as the failure table says it, with its next action by the one resume rule
        gone = explain(fold_status(Progress(), status), str(run.path), gone=True,
                       refusal=lambda: backend_for(row.recipe).resume_refusal(run, status))
        notes.append(f"{gone.title}; {gone.next}")
    if not isinstance(created, (int, float)):  # a run made before created_at was recorded: its recipe's time
        created = run.recipe_path.stat().st_mtime
    return RunSummary(run_dir=row.run_dir, name=row.name, backend=row.backend, provider=row.provider,
                      model=row.short_model, task=row.task, state=state, metric=metric, metric_label=label,
                      value=None if m is None else m.value, ci_low=None if m is None else m.ci_low,
                      ci_high=None if m is None else m.ci_high, n=None if m is None else m.n,
                      training_usd=row.training_usd, training_kind=row.training_kind,
                      created_at=float(created),
                      notes=notes)


def _worker_gone(run, status: dict) -> bool:
    """A run that says it is running on this machine while no worker holds its lock (`ftwizard.runs.liveness`)."""
    import socket

    from ftwizard.runs import liveness

    if not status.get("pid") or (status.get("host") and status.get("host") != socket.gethostname()):
        return False  # never launched, or another machine's run: not ours to judge
    return not liveness.worker_running(run)


def list_runs(runs_dir: str | os.PathLike) -> tuple[list[RunSummary], list[str]]:
    """Every run in `runs_dir`, newest first, and one line per folder that could not be read."""
    from ftwizard.runs.directory import find_runs

    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise UsageError(f"--runs-dir {runs_dir}: a file, not a folder of runs")
    out, problems = [], []
    for run in find_runs(runs_dir):
        try:
            out.append(summarize_run(run.path))
        except UsageError as e:
            problems.append(f"{run.path}: {e}")
    out.sort(key=lambda s: (s.created_at or 0.0, s.name), reverse=True)
    return out, problems


def rich_table(summaries: list[RunSummary], now: float | None = None):
    """The runs as a rich table for a terminal (`ftwizard runs`, the Verdict step before a verdict): only the
    run name wraps."""
    from rich.table import Table

    decider, named = metric_header(summaries)
    return RunsTable(summaries, now, decider, named)


NARROW = 100  # below this many columns each run is two lines (its name whole, then its figures)


class RunsTable:
    """One row per run where the terminal is wide; else each run's name on a line of its own (whole, so it can
    be copied into `ftwizard compare`) with its figures indented below."""

    def __init__(self, summaries, now, decider, named):
        self.summaries, self.now, self.decider, self.named = summaries, now, decider, named

    def __rich_console__(self, console, options):
        from rich.text import Text

        if options.max_width >= NARROW:
            yield self.wide()
            return
        for s in self.summaries:
            yield Text(s.name, style="bold", no_wrap=True, overflow="ignore")
            yield Text("  " + "  ".join([where(s), s.state, s.metric_cell(self.named), s.cost_cell(),
                                         format_age(s.age_s(self.now))]), overflow="fold")
        if self.decider:
            yield Text(f"metric: {self.decider}, [95% interval]", style="dim")

    def wide(self):
        from rich.table import Table

        summaries, now, decider, named = self.summaries, self.now, self.decider, self.named
        table = Table(show_edge=False, pad_edge=False,
                      caption=f"metric: {decider}, [95% interval]" if decider else None, caption_justify="left")
        table.add_column("run", overflow="fold", min_width=12)
        for col in ("where", "state", "metric [95%]", "training $", "age"):
            table.add_column(col, no_wrap=True)
        for s in summaries:
            table.add_row(s.name, where(s), s.state, s.metric_cell(named), s.cost_cell(), format_age(s.age_s(now)))
        return table
