"""What a verdict is made of: the compared runs, the hosted-vs-local comparison, next runs, the recommendation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

ALPHA = 0.05  # significance level of the paired test (its interval is the matching 95% one)
HORIZON_MONTHS = 12  # "cheaper" weighs training plus a year of serving at the user's volume
DEFAULT_MARGIN = 0.02  # 2 points: how much worse the local model may be and still be recommended


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
            from ftwizard.evaluation.stats import wilson_interval

            lo, hi = wilson_interval(round(value * n), n) if n else (0.0, 1.0)
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
    provider: str  # openai | azure | together | tinker | local
    imported: bool
    state: str
    task: str
    metrics: dict[str, Metric] = field(default_factory=dict)
    baseline: dict[str, Metric] = field(default_factory=dict)
    training_usd: float | None = None
    training_kind: str | None = None  # actual | estimated
    training_usd_range: tuple[float, float] | None = None  # where the cost is an estimate
    training_hours: float | None = None  # GPU-hours (local) as priced
    trained_tokens: int | None = None
    wall_s: float | None = None
    gpu: str | None = None
    price_per_hour: float | None = None
    price_source: str = ""
    quant: str = "none"
    prompt_tokens: float | None = None  # mean per request, from predictions.jsonl
    completion_tokens: float | None = None
    serving_usd_per_1k: float | None = None
    availability: str = ""
    notes: list[str] = field(default_factory=list)
    loss: list[tuple[float, float]] = field(default_factory=list)  # (step, loss)
    eval_loss: list[tuple[float, float]] = field(default_factory=list)
    max_steps: int | None = None
    # not serialized: per-example verdicts for the paired tests, and the recipe for next-run estimates
    verdicts: dict[int, dict] = field(default_factory=dict, repr=False)
    baseline_verdicts: dict[int, dict] = field(default_factory=dict, repr=False)
    references: dict[int, Any] = field(default_factory=dict, repr=False)
    recipe: Any = field(default=None, repr=False)
    # the run against its own base model on the deciding metric (`compare.gain_over_base`), set by build_verdict
    gain_over_base: dict | None = field(default=None, repr=False)

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
            "run_dir": self.run_dir, "name": self.name, "backend": self.backend, "provider": self.provider,
            "model": self.model, "base_model": self.base_model, "imported": self.imported, "state": self.state,
            "task": self.task,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "baseline": {k: m.to_dict() for k, m in self.baseline.items()},
            "training_usd": self.training_usd, "training_kind": self.training_kind,
            "training_usd_range": list(self.training_usd_range) if self.training_usd_range else None,
            "training_hours": self.training_hours, "trained_tokens": self.trained_tokens, "wall_s": self.wall_s,
            "gpu": self.gpu, "price_per_hour": self.price_per_hour, "price_source": self.price_source,
            "quant": self.quant, "prompt_tokens_mean": self.prompt_tokens,
            "completion_tokens_mean": self.completion_tokens, "serving_usd_per_1k": self.serving_usd_per_1k,
            "availability": self.availability, "loss_final": self.loss[-1][1] if self.loss else None,
            "max_steps": self.max_steps, "notes": list(self.notes),
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
    margin: float = DEFAULT_MARGIN
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
        """'hosted', 'local', or None when the gap is within the noise (the paired test at ALPHA)."""
        if self.difference is None or not self.significant:
            return None
        return "hosted" if self.difference > 0 else "local"

    @property
    def local_non_inferior(self) -> bool | None:
        """Local is at most `margin` worse: the interval's upper end of (hosted - local) is below the margin."""
        if self.diff_ci_high is None:
            return None
        return self.diff_ci_high < self.margin

    @property
    def hosted_non_inferior(self) -> bool | None:
        if self.diff_ci_low is None:
            return None
        return self.diff_ci_low > -self.margin

    def to_dict(self) -> dict:
        return {
            "metric": self.metric, "hosted_run": self.hosted_run, "local_run": self.local_run,
            "hosted_value": self.hosted_value, "local_value": self.local_value, "difference": self.difference,
            "difference_ci_low": self.diff_ci_low, "difference_ci_high": self.diff_ci_high,
            "margin": self.margin, "local_non_inferior": self.local_non_inferior,
            "hosted_non_inferior": self.hosted_non_inferior, "test": self.test, "n_paired": self.n_paired,
            "hosted_only_correct": self.hosted_only, "local_only_correct": self.local_only,
            "p_value": self.p_value, "significant": self.significant, "better": self.better,
            "hosted_training_usd": self.hosted_training_usd, "local_training_usd": self.local_training_usd,
            "training_cost_ratio": self.training_cost_ratio, "hosted_usd_per_1k": self.hosted_usd_per_1k,
            "local_usd_per_1k": self.local_usd_per_1k, "serving_cost_ratio": self.serving_cost_ratio,
            "requests_per_month": self.requests_per_month, "hosted_monthly_usd": self.hosted_monthly_usd,
            "local_monthly_usd": self.local_monthly_usd,
            "break_even_requests_per_month": self.break_even_requests_per_month,
            "local_marginal_usd_per_1k": self.local_marginal_usd_per_1k,
            "local_tokens_per_s": self.local_tokens_per_s,
            "hosted_total_usd": self.total_usd("hosted"), "local_total_usd": self.total_usd("local"),
            "horizon_months": HORIZON_MONTHS, "serving_source": self.serving_source, "notes": list(self.notes),
        }


@dataclass
class NextRun:
    """A run worth making next, with what it would cost."""

    what: str  # "Qwen3-14B in 4-bit", "answer-only loss", "more steps", "the hosted fine-tune", ...
    why: str
    command: str
    changes: dict[str, Any] = field(default_factory=dict)
    backend: str = "local"
    hours: float | None = None
    cost_usd: float | None = None
    cost_range_usd: tuple[float, float] | None = None
    gpu: str | None = None
    model: str | None = None  # local: the open model it trains, and its quantization
    quant: str | None = None
    estimate_kind: str = "estimated"

    def to_dict(self) -> dict:
        return {"what": self.what, "why": self.why, "command": self.command, "changes": dict(self.changes),
                "backend": self.backend, "hours": self.hours, "cost_usd": self.cost_usd,
                "cost_range_usd": list(self.cost_range_usd) if self.cost_range_usd else None, "gpu": self.gpu,
                "model": self.model, "quant": self.quant, "estimate_kind": self.estimate_kind}

    def on(self) -> str:
        """What it trains on: 'CodeLlama-34b-hf, 8-bit, A40'."""
        parts = [self.model.rstrip("/").split("/")[-1] if self.model else "",
                 {"none": "16-bit", "8bit": "8-bit", "4bit": "4-bit"}.get(self.quant or "", ""), self.gpu or ""]
        return ", ".join(p for p in parts if p)


@dataclass
class Recommendation:
    choice: str  # local | hosted | evaluate | next-run
    case: str  # local-better | local-as-good | hosted-cheaper | hosted-better | not-shown | private-data |
    #            hosted-closed | hosted-closing | hosted-gone | neither-usable | single-run | not-evaluated
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
    margin: float = DEFAULT_MARGIN
    labels: dict[str, str] = field(default_factory=dict)  # metric -> label, from the task

    def label(self, metric: str) -> str:
        return self.labels.get(metric, metric.replace("_", " "))

    def row(self, name_or_dir: str) -> RunRow:
        for r in self.rows:
            if name_or_dir in (r.name, r.run_dir):
                return r
        raise KeyError(name_or_dir)

    def to_dict(self) -> dict:
        return {
            "task": self.task, "metric": self.metric, "metrics": list(self.metric_names),
            "metric_labels": {m: self.label(m) for m in self.metric_names}, "margin": self.margin,
            "today": self.today.isoformat(), "requests_per_month": self.requests_per_month,
            "private_data": self.private_data, "hosted_availability": dict(self.hosted_availability),
            "runs": [{**r.to_dict(), "gain_over_base": r.gain_over_base} for r in self.rows],
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "recommendation": self.recommendation.to_dict(),
        }
