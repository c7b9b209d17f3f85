"""A run's failure as both faces show it: `ftwizard.runs.failures.explain` (the one table) with the backend's
resume rule, and whether a run's worker is gone (the backend's `is_alive`)."""

from __future__ import annotations

from ftwizard.errors import UsageError
from ftwizard.runs.directory import RunDirectory
from ftwizard.runs.events import Progress
from ftwizard.runs.failures import Failure, explain


def failure_of(run: RunDirectory, progress: Progress, *, gone: bool = False) -> Failure | None:
    """The failure `run` is in (None: none), its next action by `Backend.resume_refusal`, the one rule."""
    from ftwizard.backends import backend_for_run

    def refusal() -> str | None:
        try:
            return backend_for_run(run).resume_refusal(run)
        except UsageError as e:  # a recipe that no longer reads: that is why it cannot continue
            return str(e)

    return explain(progress, str(run.path), gone=gone, refusal=refusal)


def worker_gone(run: RunDirectory, status: dict) -> bool:
    """Running per status.json, but its backend says the worker process is gone (`Backend.is_alive`)."""
    from ftwizard.backends import backend_for_run

    if status.get("state") not in ("running", "pending") or not status.get("pid"):
        return False  # not started yet (no worker recorded), or finished
    try:
        return not backend_for_run(run).is_alive(run)
    except UsageError:  # a recipe that no longer reads: nothing to say about its worker
        return False
