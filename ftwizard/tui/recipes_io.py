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


def default_save_path(recipe: Recipe, directory: str | os.PathLike = ".") -> Path:
    """`./<name>.toml`, or `./<name>-2.toml`... when a different recipe already has that name."""
    directory = Path(directory)
    path = directory / f"{recipe.name}.toml"
    n = 1
    while path.exists():
        try:
            if path.read_text(encoding="utf-8") == recipe_text(recipe, path):
                return path
        except OSError:
            pass
        n += 1
        path = directory / f"{recipe.name}-{n}.toml"
    return path
