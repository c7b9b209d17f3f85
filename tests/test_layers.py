"""The layers of docs/ARCHITECTURE.md, as import-linter checks them (its graph counts imports inside functions)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _layers() -> list[list[str]]:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in cfg["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    return [[m.strip() for m in layer.replace("|", ":").split(":")] for layer in contract["layers"]]


def test_every_module_has_a_layer():
    """import-linter's `exhaustive` needs containers; this is its check for our flat list of modules."""
    named = [m for layer in _layers() for m in layer]
    missing = []
    for path in sorted((REPO / "ftwizard").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module in ("ftwizard", "ftwizard.evaluation", "ftwizard.runs") or "data" in parts:
            continue  # package inits with no code of their own; bundled data's generator scripts
        if not any(module == m or module.startswith(m + ".") for m in named):
            missing.append(module)
    assert missing == [], "add these modules to a layer in pyproject.toml [tool.importlinter]"


def test_lint_imports_passes():
    exe = Path(sys.executable).with_name("lint-imports")
    p = subprocess.run([str(exe)], cwd=REPO, capture_output=True, text=True, timeout=300,
                       env={"PATH": str(exe.parent), "PYTHONPATH": str(REPO)})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
