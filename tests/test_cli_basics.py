"""CLI manners: --help for every command, --version, exit codes, stdout for results, NO_COLOR."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftwizard import __version__
from ftwizard.cli.main import COMMANDS


def ftw(*args, env=None, cwd=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, env=e, cwd=cwd)


def test_version():
    p = ftw("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"ftwizard {__version__}"


def test_help_lists_every_command():
    p = ftw("--help")
    assert p.returncode == 0
    for name in COMMANDS:
        assert name in p.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command):
    p = ftw(command, "--help")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: ftwizard " + command)


def test_unknown_command_is_usage_error():
    p = ftw("trian")
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_recipes_lists_bundled_recipes_on_stdout_one_line_each():
    p = ftw("recipes", env={"COLUMNS": "200"})
    assert p.returncode == 0
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    from ftwizard.bundled import bundled_recipes

    assert len(lines) == 1 + len(bundled_recipes())  # header + one line per bundled recipe
    assert "sql-gpt35.toml" in p.stdout and "viggo-cpu-demo.toml" in p.stdout
    assert "run one with" in p.stderr and "run one with" not in p.stdout
    data = json.loads(ftw("recipes", "--json").stdout)
    assert {d["name"] for d in data} >= {"sql-gpt35", "viggo-cpu-demo"}
    assert all(d["command"].startswith("ftwizard run recipes/") for d in data)


def test_no_color_is_honoured():
    p = ftw("recipes", env={"NO_COLOR": "1", "FORCE_COLOR": "1", "COLUMNS": "200"})
    assert "\x1b[" not in p.stdout


def test_run_with_missing_recipe_exits_2():
    p = ftw("run", "no-such-recipe.toml")
    assert p.returncode == 2 and "recipe file not found" in p.stderr and "Traceback" not in p.stderr


def test_resume_of_missing_run_dir_exits_2(tmp_path):
    p = ftw("run", "--resume", str(tmp_path / "nope"))
    assert p.returncode == 2 and "run directory not found" in p.stderr
