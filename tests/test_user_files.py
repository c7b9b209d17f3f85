"""The user's own files - a recipe, the data file it names, a predictions file - are read through one reader:
a file that is missing, a folder, not readable or not UTF-8 is one line naming it, in the same words whichever
file it is, exit code 2, never a traceback."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard import fsutil
from ftwizard.cli import output
from ftwizard.cli.main import main
from ftwizard.errors import UsageError

REPO = Path(__file__).resolve().parent.parent

KINDS = ("missing", "folder", "not readable", "not UTF-8")


def make_bad(path: Path, kind: str, monkeypatch) -> None:
    if kind == "folder":
        path.mkdir()
    elif kind == "not UTF-8":
        path.write_bytes(b'name = "caf\xe9"\n')  # Latin-1: the same bytes whether read as a recipe or as data
    elif kind == "not readable":
        path.write_text('{"text": "a"}\n')
        # chmod 000 does not stop root (CI runs as root): the open itself is refused, as for any other user.
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(fsutil, "open", refusing_open, raising=False)


def problem_naming(err: str, path: Path) -> str:
    """The one line of `err` that names `path`, with the leading `error:` / list dash taken off."""
    lines = [line.strip().removeprefix("error:").strip().removeprefix("- ") for line in err.splitlines()
             if str(path) in line]
    assert len(lines) == 1, err
    return lines[0]


def usage_error(argv: list[str]) -> str:
    """What `ftwizard ARGV` says: it must stop with a UsageError (exit code 2), nothing else escaping."""
    output.reset()
    with pytest.raises(UsageError) as e:
        main(argv)
    assert e.value.exit_code == 2
    return str(e.value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_recipe_file_and_a_bad_data_file_get_the_same_message(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "tickets.jsonl"
    make_bad(bad, kind, monkeypatch)
    recipe = tmp_path / "own.toml"
    recipe.write_text(f'name = "own"\ntask = "custom"\n[data]\nsource = "files"\nformat = "chat"\n'
                      f'train = "{bad}"\n')
    runs = ["--runs-dir", str(tmp_path / "runs")]
    as_recipe = problem_naming(usage_error(["run", str(bad)] + runs), bad)
    as_data = problem_naming(usage_error(["run", str(recipe)] + runs), bad)
    assert as_recipe.replace("recipe file", "WHAT") == as_data.replace("data file", "WHAT")
    assert not (tmp_path / "runs").exists()
    expected = {"missing": f"recipe file not found: {bad}", "folder": f"recipe file is a folder, not a file: {bad}",
                "not readable": f"recipe file not readable (permission denied): {bad}",
                "not UTF-8": f"{bad}: line 1: not UTF-8 text (byte 11 of the file, column 12: e9 22 0a); save the "
                             "file as UTF-8"}[kind]
    assert as_recipe == expected
    if kind != "not readable":  # the console script: one line on stderr, exit 2, no traceback
        for target in (bad, recipe):
            p = subprocess.run([sys.executable, "-m", "ftwizard", "run", str(target)] + runs, capture_output=True,
                               text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
            assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
            assert problem_naming(p.stderr, bad) == (as_recipe if target == bad else as_data)


@pytest.mark.parametrize("kind", ("missing", "folder", "not readable"))
def test_score_names_a_bad_predictions_file_in_the_same_words(tmp_path, monkeypatch, kind):
    bad = tmp_path / "predictions.jsonl"
    make_bad(bad, kind, monkeypatch)
    words = {"missing": "not found:", "folder": "is a folder, not a file:",
             "not readable": "not readable (permission denied):"}[kind]
    said = usage_error(["score", str(bad), "--task", "custom", "--metric", "exact"])
    assert problem_naming(said, bad) == f"predictions file {words} {bad}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_wizard_names_a_bad_recipe_file_as_the_cli_does(tmp_path, monkeypatch, kind):
    from ftwizard.tui.screens.task import recipe_for_choice

    bad = tmp_path / "mine.toml"
    make_bad(bad, kind, monkeypatch)
    with pytest.raises(UsageError) as e:
        recipe_for_choice("file", {"path": str(bad)})
    assert str(e.value) == usage_error(["run", str(bad)])
