"""The CLI's and the TUI's start-up never import torch, transformers, peft, datasets or a provider SDK."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "datasets", "accelerate", "openai", "together", "tinker")  # provider SDKs too


def loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules)))"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return set(json.loads(p.stdout.strip().splitlines()[-1]))


def heavy_in(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize("argv", [["--help"], ["recipes"], ["recipes", "--json"], ["--version"], ["run", "--help"]])
def test_cli_commands_stay_light(argv):
    code = (
        "import sys, io, contextlib\n"
        "from ftwizard.cli.main import main\n"
        f"sys.argv = ['ftwizard'] + {argv!r}\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    assert heavy_in(loaded_after(code)) == []


@pytest.mark.parametrize("module", [
    "ftwizard.recipe", "ftwizard.tasks", "ftwizard.prepare", "ftwizard.runs.directory", "ftwizard.cli.main",
    "ftwizard.backends", "ftwizard.catalog",
])
def test_engine_modules_import_light(module):
    assert heavy_in(loaded_after(f"import {module}")) == []


def test_prepare_runs_without_heavy_imports(tmp_path):
    code = (
        "from ftwizard.recipe import load_recipe\nfrom ftwizard.prepare import prepare\n"
        f"prepare(load_recipe('recipes/sql-gpt35.toml'), {str(tmp_path / 'o')!r})\n"
    )
    assert heavy_in(loaded_after(code)) == []


def test_cli_start_up_does_not_load_backends():
    mods = loaded_after("from ftwizard.cli.main import build_parser\nbuild_parser()")
    # nor the catalog (its data classes and TOML cost ~50 ms: `ftwizard --version` went from 47 to 300 ms)
    assert not [m for m in mods if m.startswith(("ftwizard.backends.", "openai", "pydantic", "ftwizard.catalog"))]


def test_import_job_default_model_matches_importer():
    from ftwizard.backends.hosted.importer import DEFAULT_OPEN_MODEL
    from ftwizard.cli import import_openai_job

    assert import_openai_job.DEFAULT_OPEN_MODEL == DEFAULT_OPEN_MODEL
