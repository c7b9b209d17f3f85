"""Text-to-SQL on sql-create-context ∩ Spider (the seed's split)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Iterable

from ftwizard.tasks.base import MetricSpec, Task

SQL_INSTRUCTION = (
    "You are a powerful text-to-SQL model. Your job is to answer questions about a database. "
    "You are given a question and context regarding one or more tables.\n\n"
    "You must output the SQL query that answers the question."
)

SQL_TEMPLATE = SQL_INSTRUCTION + "\n\n### Input:\n{question}\n\n### Context:\n{context}\n\n### Response:\n{answer}\n"
SQL_SYSTEM = SQL_INSTRUCTION + "\n\n### Context:\n{context}"

_FENCE = re.compile(r"```(?:sql|sqlite|mysql)?\s*\n?(.*?)(?:```|$)", re.S | re.I)
_START = re.compile(r"\b(SELECT|WITH)\b", re.I)
_STOP_MARKERS = ("\n\n", "###", "</s>", "<|", "\n--")


def first_statement(text: str) -> str:
    """Cut at the first `;` outside quotes."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
        elif ch == ";":
            return text[:i]
    return text


def extract_sql(raw: str) -> str:
    """The first SQL statement in a model's output: no code fences, no chatter around it."""
    text = raw.replace("\r\n", "\n")
    m = _FENCE.search(text)
    if m and _START.search(m.group(1)):
        text = m.group(1)
    m = _START.search(text)
    if not m:
        return text.strip().splitlines()[0].strip() if text.strip() else ""
    text = text[m.start():]
    for marker in _STOP_MARKERS:
        idx = text.find(marker)
        if idx > 0:
            text = text[:idx]
    text = first_statement(text)
    return " ".join(text.split()) if "\n" in text.strip() else text.strip()


class SqlTask(Task):
    name: ClassVar[str] = "sql"
    title: ClassVar[str] = "text-to-SQL (sql-create-context ∩ Spider: 3,961 train / 568 eval)"
    answer_field: ClassVar[str] = "answer"
    default_template: ClassVar[str] = SQL_TEMPLATE
    default_system: ClassVar[str] = SQL_SYSTEM
    default_user: ClassVar[str] = "{question}"
    bundled: ClassVar[dict[str, str]] = {
        "train": "sql-create-context/spider_create_context_train.jsonl",
        "val": "sql-create-context/spider_create_context_val.jsonl",
    }
    default_train_split: ClassVar[str] = "train"
    default_eval_split: ClassVar[str] = "val"

    def extract_answer(self, raw: str) -> str:
        return extract_sql(raw)

    def metric_specs(self, recipe=None, *, reported=None) -> tuple[MetricSpec, ...]:
        return (
            MetricSpec("execution_match", "execution match", decides=True),
            MetricSpec("exact_match", "string exact match (seed)"),
            MetricSpec("normalized_match", "normalized match"),
        )

    def score(self, prediction: str, reference: str, row: dict[str, Any] | None = None) -> tuple[dict, dict]:
        from ftwizard.evaluation import sql_metrics

        v = sql_metrics.score_pair(prediction, reference, (row or {}).get("context") or "")
        return ({k: v[k] for k in sql_metrics.METRICS},
                {"execution_detail": v["execution_detail"], "execution_note": v["execution_note"]})

    def aggregate(self, scored: Iterable[dict]) -> dict[str, dict]:
        from ftwizard.evaluation import sql_metrics

        return sql_metrics.aggregate([s["verdicts"] for s in scored])
