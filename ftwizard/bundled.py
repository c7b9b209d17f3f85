"""The recipes that ship with ftwizard (read without validating the whole schema: it must stay fast)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


@dataclass(frozen=True)
class BundledRecipe:
    path: Path
    name: str
    task: str
    backend: str
    summary: str
    command: str


def recipes_dir() -> Path:
    return RECIPES_DIR


def bundled_recipes() -> list[BundledRecipe]:
    out = []
    for path in sorted(RECIPES_DIR.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        first = text.splitlines()[0].lstrip("# ").strip() if text else ""
        out.append(BundledRecipe(path=path, name=data.get("name", path.stem), task=data.get("task", "?"),
                                 backend=data.get("backend", "local"), summary=data.get("description", ""),
                                 command=first))
    return out


def find_bundled(name: str) -> Path | None:
    """`sql-gpt35` or `sql-gpt35.toml` -> the bundled file, if any."""
    stem = name.removesuffix(".toml")
    p = RECIPES_DIR / f"{stem}.toml"
    return p if p.exists() else None
