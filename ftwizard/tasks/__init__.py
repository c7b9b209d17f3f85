"""The task registry: what a task is (data, prompts, answer extraction, metrics) by name."""

from __future__ import annotations

from ftwizard.errors import UsageError, did_you_mean
from ftwizard.tasks.base import Split, Task
from ftwizard.tasks.custom import CustomTask
from ftwizard.tasks.sql import SqlTask
from ftwizard.tasks.viggo import ViggoTask

TASKS: dict[str, type[Task]] = {"sql": SqlTask, "viggo": ViggoTask, "custom": CustomTask}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]()
    except KeyError:
        raise UsageError(f"unknown task `{name}`{did_you_mean(name, TASKS)}; tasks: {', '.join(TASKS)}") from None


__all__ = ["TASKS", "Split", "Task", "get_task"]
