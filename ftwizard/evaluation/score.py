"""Scoring predictions by task: per-example verdicts and metrics with 95% intervals; reading predictions files.

Used by `evaluate_run` (as predictions arrive) and by `ftwizard score FILE.jsonl` (outputs from anywhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ftwizard.datasource import iter_jsonl_objects
from ftwizard.errors import UsageError
from ftwizard.evaluation.stats import proportion

SCORED_TASKS = ("sql", "viggo", "custom")


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics a task reports in metrics.json (slot precision and recall ride along with slot_f1)."""
    if task == "sql":
        from ftwizard.evaluation.sql_metrics import METRICS

        return METRICS
    if task == "viggo":
        return ("exact_match", "function_match", "attribute_set_match", "slot_f1", "slot_precision", "slot_recall")
    return ("exact_match",)


def score_one(task: str, prediction: str, reference: str, context: str | None = None) -> tuple[dict, dict]:
    """(verdicts, details) for one example. Verdicts are bools or numbers; details say why (for people)."""
    if task == "sql":
        from ftwizard.evaluation import sql_metrics

        v = sql_metrics.score_pair(prediction, reference, context or "")
        return ({k: v[k] for k in sql_metrics.METRICS}, {"execution_detail": v["execution_detail"]})
    if task == "viggo":
        from ftwizard.evaluation import viggo_metrics

        v = viggo_metrics.score_pair(prediction, reference)
        return ({k: v[k] for k in viggo_metrics.METRICS}, {"slot_counts": v["slot_counts"]})
    return ({"exact_match": " ".join(prediction.split()) == " ".join(reference.split())}, {})


def aggregate(task: str, scored: Iterable[dict]) -> dict[str, dict]:
    """metrics.json's `metrics` from scored examples ({verdicts: ..., and details such as slot_counts})."""
    scored = list(scored)
    if task == "sql":
        from ftwizard.evaluation import sql_metrics

        return sql_metrics.aggregate([s["verdicts"] for s in scored])
    if task == "viggo":
        from ftwizard.evaluation import viggo_metrics

        return viggo_metrics.aggregate([{**s["verdicts"], "slot_counts": s["slot_counts"]} for s in scored])
    return {"exact_match": proportion([bool(s["verdicts"]["exact_match"]) for s in scored])}


def score_examples(task: str, examples: list[dict]) -> tuple[list[dict], dict[str, dict]]:
    """Score `{prediction, reference[, context]}` dicts: (each example with `verdicts` added, metrics)."""
    scored = []
    for ex in examples:
        verdicts, details = score_one(task, ex["prediction"], ex["reference"], ex.get("context"))
        scored.append({**ex, "verdicts": verdicts, **details})
    return scored, aggregate(task, scored)


def read_predictions_file(path: str | Path, task: str) -> list[dict]:
    """A JSON Lines file of `prediction`, `reference` (and `context` for sql); every bad line is named."""
    path = Path(path)
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"predictions file not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder; a JSON Lines file was expected") from None
    required = ("prediction", "reference") + (("context",) if task == "sql" else ())
    rows: list[dict] = []
    problems: list[str] = []
    with f:
        for no, obj, problem in iter_jsonl_objects(f):
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
                rows.append(row)
            if len(problems) >= 10:
                problems.append("(stopped after 10 bad lines)")
                break
    if problems:
        raise UsageError(problems, source=str(path))
    if not rows:
        raise UsageError(f"{path}: no predictions in the file")
    return rows


def score_file(path: str | Path, task: str) -> dict:
    """{task, file, n, metrics, examples}: the whole report `ftwizard score` prints."""
    if task not in SCORED_TASKS:
        raise UsageError(f"unknown task `{task}`; choose one of: {', '.join(SCORED_TASKS)}")
    rows = read_predictions_file(path, task)
    scored, metrics = score_examples(task, rows)
    return {"task": task, "file": str(path), "n": len(scored), "metrics": metrics, "examples": scored}
