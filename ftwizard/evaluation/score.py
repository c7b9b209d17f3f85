"""Scoring predictions through their task: per-example verdicts and metrics with 95% intervals; reading
predictions files.

Used by `evaluate_run` (as predictions arrive) and by `ftwizard score FILE.jsonl` (outputs from anywhere). What
a metric is lives in the task (`Task.score`, `Task.aggregate`, `Task.breakdown`); this module only feeds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwizard.datasource import iter_jsonl_objects, iter_lines
from ftwizard.errors import UsageError
from ftwizard.fsutil import require_user_file

if TYPE_CHECKING:
    from ftwizard.tasks import Task


def score_examples(task: "Task", examples: list[dict]) -> tuple[list[dict], dict[str, dict]]:
    """Score `{prediction, reference[, context, input]}` dicts: (each example with `verdicts` and its details
    added, metrics). The task first sees every reference (a custom task picks its metric from them)."""
    task.use_references([ex["reference"] for ex in examples])
    for ex in examples:  # a bad reference is named by its line before any (paid) scoring starts
        try:
            task.check_reference(ex["reference"])
        except UsageError as e:
            raise UsageError(f"line {ex['line']}: {e}" if "line" in ex else str(e)) from None
    scored = [{**ex, "verdicts": verdicts, **details} for ex, (verdicts, details) in zip(examples, task.score_many(examples))]
    return scored, task.aggregate(scored)


def read_predictions_file(path: str | Path, task: str) -> list[dict]:
    """A JSON Lines file of `prediction`, `reference` (and `context` for sql; `input`, the prompt, is kept when
    present: the judge reads it); every bad line is named."""
    path = Path(path)
    require_user_file(path, "predictions file")
    required = ("prediction", "reference") + (("context",) if task == "sql" else ())
    rows: list[dict] = []
    problems: list[str] = []
    # a line at a time; not UTF-8 or an over-long line: one usage error naming the line
    for no, obj, problem in iter_jsonl_objects(iter_lines(path, what="predictions file")):
        if problem:
            problems.append(f"line {no}: {problem}")
        elif missing := [k for k in required if k not in obj]:
            hint = " (the CREATE TABLE statements execution match runs on)" if "context" in missing else ""
            problems.append(f"line {no}: missing {', '.join(f'`{k}`' for k in missing)}{hint}")
        elif wrong := [k for k in required if not isinstance(obj[k], str)]:
            problems.append(f"line {no}: {', '.join(f'`{k}`' for k in wrong)} must be a string")
        else:
            row: dict[str, Any] = {k: obj[k] for k in required}
            row["line"] = no
            if "index" in obj:
                row["index"] = obj["index"]
            if isinstance(obj.get("input"), str):
                row["input"] = obj["input"]
            rows.append(row)
        if len(problems) >= 10:
            problems.append("(stopped after 10 bad lines)")
            break
    if problems:
        raise UsageError(problems, source=str(path))
    if not rows:
        raise UsageError(f"{path}: no predictions in the file")
    return rows


def score_file(path: str | Path, task: str, **options) -> dict:
    """{task, file, n, metric, metric_label, metrics, labels, breakdown, examples}: the whole report `ftwizard
    score` prints. `options` go to the task (custom: metric, judge_model, judge_rubric)."""
    from ftwizard.tasks import get_task

    t = get_task(task, **options)
    rows = read_predictions_file(path, task)
    scored, metrics = score_examples(t, rows)
    specs = {m.name: m for m in t.metric_specs()}
    primary = t.primary_metric()
    return {"task": task, "file": str(path), "n": len(scored), "metric": primary,
            "metric_label": specs[primary].label, "metrics": metrics,
            "labels": {name: specs[name].label for name in metrics if name in specs},
            "breakdown": t.breakdown(scored), "examples": scored}
