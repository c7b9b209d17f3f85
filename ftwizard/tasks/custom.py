"""A user's own task: JSONL/CSV (or a hub dataset) plus templates naming its fields."""

from __future__ import annotations

from typing import ClassVar

from ftwizard.tasks.base import Task


class CustomTask(Task):
    name: ClassVar[str] = "custom"
    title: ClassVar[str] = "your own data: a JSONL or CSV file and templates naming its fields"
    answer_field: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]] = ("exact_match",)
