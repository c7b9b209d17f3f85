"""The verdict as a report: report.md with the table and the recommendation, and two PNG pictures
(loss curves of the compared runs; accuracy against training cost). matplotlib draws off-screen (Agg canvas,
no pyplot state), so this works over SSH, in CI and from the wizard's worker threads alike.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ftwizard.errors import UsageError
from ftwizard.fmt import usd
from ftwizard.fsutil import atomic_write_bytes, atomic_write_text
from ftwizard.verdict import Verdict
from ftwizard.verdict.render import to_markdown

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
BACKEND_COLORS = {"hosted": "#d62728", "local": "#1f77b4"}


def default_report_path(verdict: Verdict) -> Path:
    return Path(verdict.rows[0].run_dir) / "report.md"


def write_report(verdict: Verdict, path: str | Path | None = None) -> dict[str, str]:
    """Write report.md (default: in the first run's directory) and its two PNGs beside it.

    Returns {"report": ..., "loss_png": ..., "accuracy_cost_png": ...}. Raises UsageError if the place cannot
    be written.
    """
    path = Path(path) if path is not None else default_report_path(verdict)
    if path.is_dir():
        path = path / "report.md"
    stem = path.stem
    loss_png = path.with_name(f"{stem}-loss.png")
    acc_png = path.with_name(f"{stem}-accuracy-cost.png")
    try:
        atomic_write_bytes(loss_png, plot_loss_curves(verdict))
        atomic_write_bytes(acc_png, plot_accuracy_cost(verdict))
        md = to_markdown(verdict, images={"Loss curves": loss_png.name,
                                          "Accuracy against training cost": acc_png.name})
        atomic_write_text(path, md)
        for p in (loss_png, acc_png, path):
            os.chmod(p, 0o644)  # a report is for reading by anyone who can read the run
    except OSError as e:
        raise UsageError(f"cannot write the report to {path}: {e.strerror or e}") from None
    return {"report": str(path), "loss_png": str(loss_png), "accuracy_cost_png": str(acc_png)}


def _figure(width: float = 8.0, height: float = 4.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def plot_loss_curves(verdict: Verdict) -> bytes:
    """Training loss (solid) and eval loss (dashed) of every compared run against training progress.

    Hosted and local runs count steps differently (a hosted step is one batch of an epoch; a local step one
    optimizer update of micro-batch x accumulation), so the x axis is the share of each run's steps done.
    """
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    drawn = 0
    for i, r in enumerate(verdict.rows):
        if not r.loss:
            continue
        total = r.max_steps or max(s for s, _ in r.loss)
        color = COLORS[i % len(COLORS)]
        label = f"{r.name} ({r.backend}, {r.short_model}, {int(total):,} steps)"
        ax.plot([100 * s / total for s, _ in r.loss], [v for _, v in r.loss], color=color, lw=1.4, label=label)
        if r.eval_loss:
            ax.plot([100 * s / total for s, _ in r.eval_loss], [v for _, v in r.eval_loss], color=color, lw=1.2,
                    ls="--", marker="o", ms=3, label=f"{r.name} eval loss")
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no loss recorded in events.jsonl", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("training progress (% of the run's steps)")
    ax.set_ylabel("loss")
    ax.set_title("Loss curves (solid: training, dashed: eval)")
    ax.grid(alpha=0.3)
    return _png(fig)


def plot_accuracy_cost(verdict: Verdict) -> bytes:
    """The deciding metric (with its 95% interval) against training cost; hollow markers are estimated costs."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    metric = verdict.metric
    pts = [r for r in verdict.rows if r.training_usd is not None and metric in r.metrics]
    for r in pts:
        m = r.metrics[metric]
        color = BACKEND_COLORS.get(r.backend, "#333333")
        estimated = r.training_kind == "estimated"
        ax.errorbar([r.training_usd], [100 * m.value], yerr=[[100 * (m.value - m.ci_low)], [100 * (m.ci_high - m.value)]],
                    fmt="o", ms=8, capsize=4, color=color, mfc="white" if estimated else color,
                    label=f"{r.backend}" + (" (estimated cost)" if estimated else ""))
        ax.annotate(f"{r.short_model}\n{usd(r.training_usd)}" + (" est." if estimated else ""),
                    (r.training_usd, 100 * m.value), textcoords="offset points", xytext=(8, 6), fontsize=7)
    if not pts:
        ax.text(0.5, 0.5, "no evaluated run with a training cost", ha="center", va="center", transform=ax.transAxes)
    else:
        costs = [r.training_usd for r in pts if r.training_usd > 0]
        if costs and max(costs) / min(costs) > 20:
            ax.set_xscale("log")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="lower right")
        lo = min(100 * r.metrics[metric].ci_low for r in pts)
        hi = max(100 * r.metrics[metric].ci_high for r in pts)
        ax.set_ylim(max(0, lo - 5), min(100, hi + 5))
        if ax.get_xscale() == "linear":
            ax.set_xlim(0, max(r.training_usd for r in pts) * 1.3)
    ax.set_xlabel("training cost (USD)")
    ax.set_ylabel(f"{verdict.label(metric)} (%), 95% interval")
    ax.set_title("Accuracy against training cost")
    ax.grid(alpha=0.3)
    return _png(fig)
