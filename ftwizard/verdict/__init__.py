"""The verdict: runs compared on accuracy and cost, and one recommendation with its reasons.

`build_verdict(run_dirs)` reads each run directory, lines the runs up, tests the gap between the best hosted and
the best local run on the task's deciding metric, paired on the same eval examples (exact McNemar and the
matching exact interval), prices training and serving, and decides (the rule: `ftwizard.verdict.decide`).
The CLI (`ftwizard compare`), the report (`ftwizard.report`) and the wizard's last screen show the same
`Verdict`. Nothing here imports torch, transformers or Textual.

Modules, one job each: `runs` (reading a run directory), `compare` (the deciding metric, the paired test,
costs of the pair), `availability` (the hosted path on a date), `nextrun` (the next run, estimated), `decide`
(the recommendation), `render` (text, markdown, rich), `model` (the dataclasses). Statistics live in
`ftwizard.evaluation.stats`, prices in `ftwizard.pricing`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Iterable

from ftwizard.errors import UsageError
from ftwizard.evaluation.stats import mcnemar_exact, paired_difference_ci
from ftwizard.verdict.availability import availability_cell, hosted_availability
from ftwizard.verdict.compare import best, compare, gain_over_base, price_serving, task_metrics
from ftwizard.verdict.decide import recommend
from ftwizard.verdict.model import (ALPHA, DEFAULT_MARGIN, HORIZON_MONTHS, Comparison, Metric, NextRun, Recommendation,
                                    RunRow, Verdict)
from ftwizard.verdict.nextrun import local_next_runs
from ftwizard.verdict.runs import loss_still_falling, read_home_twin, read_run

__all__ = ["ALPHA", "DEFAULT_MARGIN", "HORIZON_MONTHS", "Comparison", "Metric", "NextRun", "Recommendation", "RunRow",
           "Verdict", "build_verdict", "hosted_availability", "local_next_runs", "loss_still_falling",
           "mcnemar_exact", "paired_difference_ci", "read_run"]


def build_verdict(run_dirs: Iterable[str | Path], *, requests_per_month: int | None = None, private_data: bool = False,
                  today: date | None = None, margin: float | None = None) -> Verdict:
    """Compare the runs and decide. Raises UsageError (every problem at once) for unreadable or mismatched runs.

    `margin` (points, e.g. 2.0) is how much worse the local model may be on the deciding metric and still be
    recommended; default: the first run's recipe `eval.margin`.
    """
    run_dirs = list(run_dirs)
    if not run_dirs:
        raise UsageError("compare needs at least one run directory")
    if today is None:
        from ftwizard import settings

        today = settings.as_of()  # FTWIZARD_AS_OF, the day every command judges availability on
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
            twin = read_home_twin(r, problems)  # a hosted adapter brought home: the same weights, self-served
            if twin is not None:
                rows.append(twin)
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
    if margin is None:
        margin = rows[0].recipe.eval.margin
    if not 0 <= margin <= 100:
        raise UsageError(f"--margin {margin:g}: points between 0 and 100 were expected")
    private = private_data or any(r.recipe.private_data for r in rows)

    metric_names, metric, labels, metric_notes = task_metrics(task, rows)
    for r in rows:
        r.gain_over_base = gain_over_base(r, metric)
    hosted_rows = [r for r in rows if r.backend == "hosted"]
    local_rows = [r for r in rows if r.backend != "hosted"]
    best_h, best_l = best(hosted_rows, metric), best(local_rows, metric)
    if best_h is not None:
        avail = hosted_availability(today, best_h.provider, best_h.base_model)
    else:
        r0 = rows[0].recipe
        avail = hosted_availability(today, r0.hosted.provider, r0.hosted.model)
    for r in rows:
        r.availability = availability_cell(r, hosted_availability(today, r.provider, r.base_model)
                                           if r.backend == "hosted" else avail)

    price_serving(rows, best_h, best_l, requests_per_month)
    comparison = compare(best_h, best_l, metric, requests_per_month, margin / 100) if best_h and best_l else None
    if comparison is not None:
        comparison.notes += metric_notes
    elif metric_notes:
        rows[0].notes += metric_notes
    verdict = Verdict(rows=rows, task=task, metric=metric, metric_names=metric_names, comparison=comparison,
                      recommendation=Recommendation("evaluate", "not-evaluated", ""), hosted_availability=avail,
                      requests_per_month=requests_per_month, private_data=private, today=today,
                      margin=margin / 100, labels=labels)
    verdict.recommendation = recommend(verdict, best_h, best_l)
    return verdict
