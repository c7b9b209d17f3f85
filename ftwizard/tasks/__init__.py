"""The task registry: what a task is (data, prompts, answer extraction, metrics) by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftwizard.errors import UsageError, did_you_mean
from ftwizard.tasks.base import MetricSpec, Split, Task
from ftwizard.tasks.custom import CustomTask
from ftwizard.tasks.sql import SqlTask
from ftwizard.tasks.viggo import ViggoTask

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

TASKS: dict[str, type[Task]] = {"sql": SqlTask, "viggo": ViggoTask, "custom": CustomTask}


def get_task(name: str, recipe: "Recipe | None" = None, **options) -> Task:
    """The task `name`, built for `recipe` when given (a custom task's metric depends on it). `options` go to
    the task's constructor (custom: metric, judge_model, judge_rubric)."""
    try:
        cls = TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task `{name}`{did_you_mean(name, TASKS)}; tasks: {', '.join(TASKS)}") from None
    return cls(recipe, **options)


__all__ = ["TASKS", "MetricSpec", "Split", "Task", "get_task"]
