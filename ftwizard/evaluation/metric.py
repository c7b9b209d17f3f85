"""What a metric is: its key in metrics.json, its label, its direction, and whether the verdict decides on it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """One metric a task reports: its key in metrics.json, its label for people, its direction, and whether it
    is the metric the verdict decides on (exactly one per task and recipe)."""

    name: str
    label: str
    higher_is_better: bool = True
    decides: bool = False
