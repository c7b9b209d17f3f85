"""Starting a run: the checks before anything exists (the backend's preflight, then the warnings on settings that
cannot learn), the run directory, and the launch of its detached worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ftwizard.backends import backend_for
from ftwizard.defaults import preflight_warnings
from ftwizard.runs.directory import RunDirectory

if TYPE_CHECKING:
    from ftwizard.backends.base import Backend
    from ftwizard.recipe import Recipe


@dataclass(frozen=True)
class Checked:
    """A recipe that passed its backend's preflight: what to say before launch (never a refusal)."""

    backend: "Backend | None"
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()      # what to know before launch (e.g. how a hosted fine-tune is evaluated)


def check_run(recipe: "Recipe", preflight: "Callable[[Recipe], object] | None" = None) -> Checked:
    """The backend's preflight (a UsageError when it refuses: before any file or bill exists; `preflight` stands
    in for it where a face launches through its own launcher), then the settings that cannot learn as warnings."""
    backend = None
    if preflight is None:
        backend = backend_for(recipe)
        preflight = backend.preflight
    preflight(recipe)
    notes = tuple(backend.preflight_notes(recipe)) if backend is not None else ()
    return Checked(backend, tuple(preflight_warnings(recipe)), notes)


def launch_run(recipe: "Recipe", runs_dir: str | Path, *, header: str | None = None,
               backend: "Backend | None" = None,
               on_created: "Callable[[RunDirectory], None] | None" = None) -> RunDirectory:
    """Create the run directory (the fully resolved recipe inside; `on_created` hears of it before the launch, so
    a face can name it even when the launch fails) and start its worker in its own process. The caller ran
    `check_run` first."""
    backend = backend or backend_for(recipe)
    recipe = recipe.for_run()  # data paths absolute: the run reads the same files from any folder
    run = RunDirectory.create(runs_dir, recipe.name, recipe.to_toml(header=header))
    if on_created is not None:
        on_created(run)
    backend.launch(run, recipe)
    return run
