"""Backends: `local` (transformers + peft in its own process) and `hosted` (OpenAI / Azure OpenAI jobs).

Both write the same run directory. Each backend module is light to import (no torch) and provides:

    preflight(recipe) -> None
        Checks that can fail before anything is created (a missing API key, 8-bit without CUDA, ...);
        raises UsageError.
    start(run: RunDirectory, recipe: Recipe, *, detach: bool) -> int
        Launches the run's worker process in a new session (it survives the terminal), records it in
        status.json, then returns at once (detach) or follows the run with progress on stderr until it ends.
        Returns the exit code (0 succeeded, 1 failed, 130 interrupted/detached by Ctrl-C).
    resume(run: RunDirectory, *, detach: bool) -> int
        Continues a run from its directory alone (local: last complete checkpoint; hosted: re-follow the
        recorded job, never creating another).
    cancel(run: RunDirectory) -> None
        Stops the run (local: SIGTERM to the worker, which saves and marks `cancelled`; hosted: cancels the job).
    is_alive(run: RunDirectory) -> bool
        Whether the run's worker process is still running.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ftwizard.errors import UsageError, did_you_mean

BACKENDS = {"local": "ftwizard.backends.local", "hosted": "ftwizard.backends.hosted"}


def get_backend(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise UsageError(f"unknown backend `{name}`{did_you_mean(name, BACKENDS)}; backends: {', '.join(BACKENDS)}")
    try:
        return importlib.import_module(BACKENDS[name])
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("ftwizard.backends"):
            raise UsageError(f"the `{name}` backend is not available in this version yet") from None
        raise
