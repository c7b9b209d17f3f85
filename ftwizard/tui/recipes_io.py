"""Saving what the wizard chose as a recipe file that reruns headless (`ftwizard --recipe FILE`)."""

from __future__ import annotations

import os
from pathlib import Path

from ftwizard.fsutil import atomic_write_text
from ftwizard.recipe import Recipe


def recipe_text(recipe: Recipe, path: str | os.PathLike) -> str:
    header = (f"ftwizard --recipe {path}\n"
              f"Saved by the ftwizard wizard: rerun it headless with the command above.")
    return recipe.to_toml(header=header)


def save_recipe(recipe: Recipe, path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    atomic_write_text(path, recipe_text(recipe, path))
    return path


def holds(path: Path, recipe: Recipe) -> bool:
    """Whether the file at `path` is this very recipe as the wizard writes it."""
    try:
        return path.read_text(encoding="utf-8") == recipe_text(recipe, path)
    except (OSError, UnicodeDecodeError):
        return False


def default_save_path(recipe: Recipe, directory: str | os.PathLike = ".") -> Path:
    """`./<name>.toml` (named after the run), or `./<name>-2.toml`... when another recipe already has that name:
    a file that holds something else is never the default."""
    directory = Path(directory)
    path = directory / f"{recipe.name}.toml"
    n = 1
    while path.exists() and not holds(path, recipe):
        n += 1
        path = directory / f"{recipe.name}-{n}.toml"
    return path


def launch_save_path(recipe: Recipe, saved_path: str = "") -> Path:
    """Where launching writes the recipe: the file the user saved it to when that still holds it unchanged,
    else a fresh `<name>.toml` (never a file holding another recipe)."""
    if saved_path and holds(Path(saved_path), recipe):
        return Path(saved_path)
    return default_save_path(recipe)
