"""What a core `pip install -e .` (no extras) must be enough for.

Every third-party module ftwizard imports anywhere (also inside functions: Azure's deployment step once
imported `httpx` after training, which a core install lacks since openai moved to `httpx2`) is either provided
by a core dependency (directly or through the packages they require) or belongs to an extra named here and
declared in pyproject.toml. And every ftwizard module imports in this environment unless what it misses is an
extra's. `.ci/run` runs this file in a venv built with `pip install -e .` and pytest only, so a dependency
only an extra brings fails CI.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "ftwizard"

# Import name -> the extra that brings it (each must be declared in pyproject.toml's optional-dependencies).
EXTRA_ONLY = {
    "together": "together", "zstandard": "together",
    "tinker": "tinker",
    "azure": "azure",
    "fireworks": "fireworks",
    "bitsandbytes": "quant",
    "liger_kernel": "fast", "triton": "fast",
    "vllm": "serve",
}


def _canon(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module names imported anywhere in ftwizard (module level or inside functions) -> files."""
    out: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "ftwizard" and top not in sys.stdlib_module_names:
                    out.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return out


def _pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def core_closure() -> set[str]:
    """Distributions a core install brings: the core requirements and, from the installed metadata, what they
    require in turn (requirements behind an `extra` marker left out)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [Requirement(r) for r in _pyproject()["dependencies"]]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = _canon(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in (md.requires(req.name) or [])]
        except md.PackageNotFoundError:
            pass  # not installed here: what it requires cannot be read (the import check below still runs)
    return seen


def test_every_module_ftwizard_imports_comes_with_a_core_install_or_a_declared_extra():
    closure = core_closure()
    providers = {k: {_canon(d) for d in v} for k, v in md.packages_distributions().items()}
    extras = _pyproject()["optional-dependencies"]
    problems = []
    for name, files in sorted(third_party_imports().items()):
        if name in EXTRA_ONLY:
            if EXTRA_ONLY[name] not in extras:
                problems.append(f"{name} ({sorted(files)[0]}): extra `{EXTRA_ONLY[name]}` is not declared")
            continue
        dists = providers.get(name)
        if not dists:
            problems.append(f"{name} ({', '.join(sorted(files))}): not installed by a core install")
        elif not dists & closure:
            problems.append(f"{name} ({', '.join(sorted(files))}): comes from {sorted(dists)}, which no core "
                            "dependency requires - declare it, or name the extra that brings it in EXTRA_ONLY")
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_module_only_an_extra_brings(tmp_path, monkeypatch):
    """The guard itself: `httpx` (what azure.py once imported) is not in a core install's closure."""
    closure = core_closure()
    assert "openai" in closure and "httpx" not in closure
    assert "together" not in closure and "tinker" not in closure


def test_every_ftwizard_module_imports_here_unless_an_extra_is_missing():
    """Import every module in a fresh interpreter: a module that fails for anything but an extra's absence is a
    core install that does not work. Run where no extra is installed (`.ci/run`'s core venv): with the extras
    present it proves nothing and imports torch, transformers and every SDK for a minute."""
    import importlib.util

    if any(importlib.util.find_spec(m) for m in ("together", "tinker")):
        pytest.skip("extras installed here: the core-install venv of .ci/run runs this")
    code = r"""
import importlib, json, pkgutil, sys
import ftwizard
out = {}
for m in pkgutil.walk_packages(ftwizard.__path__, "ftwizard."):
    if m.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(m.name)
    except ImportError as e:
        out[m.name] = getattr(e, "name", None) or str(e)
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    bad = {m: missing for m, missing in failures.items() if str(missing).split(".")[0] not in EXTRA_ONLY}
    assert not bad, f"modules that fail to import on this install: {bad}"


def test_readme_test_commands_are_what_ci_runs():
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("Run the tests:", 1)[1].split("`.ci/run` runs both.", 1)[0]
    commands = [c.strip() for c in re.findall(r"```bash\n(.*?)```", section, re.S)]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert len(commands) == 2 and all(c in ci for c in commands), commands
    core = commands[1]
    assert "tests/test_core_install.py" in core and "[" not in core.split("pip install", 1)[1].split("&&")[0]
