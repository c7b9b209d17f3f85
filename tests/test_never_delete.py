"""ftwizard never deletes what it did not write: every folder it replaces carries its marker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.errors import UsageError
from ftwizard.fsutil import OUTPUT_MARKER, atomic_dir


def _ftw(args, cwd):
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def _custom_recipe(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f'{{"text": "ticket {i} about billing", "label": "{"billing" if i % 2 else "bug"}"}}\n'
                   for i in range(12))
    (folder / "train.jsonl").write_text(rows)
    (folder / "eval.jsonl").write_text(rows)
    r = folder / "mine.toml"
    r.write_text('name = "mine"\ntask = "custom"\n[data]\nsource = "files"\n'
                 f'train = "{folder / "train.jsonl"}"\neval = "{folder / "eval.jsonl"}"\n'
                 '[prompt]\ntemplate = "Ticket: {text}\\nCategory:\\n{label}"\nanswer_field = "label"\n')
    return r


def test_prepare_out_refuses_the_folder_holding_the_users_recipe_and_data(tmp_path):
    recipe = _custom_recipe(tmp_path / "project")
    before = sorted(p.name for p in (tmp_path / "project").iterdir())
    p = _ftw(["prepare", str(recipe), "--out", str(tmp_path / "project")], tmp_path)
    assert p.returncode == 2, p.stderr
    assert "never replaces" in p.stderr and "Traceback" not in p.stderr
    assert sorted(x.name for x in (tmp_path / "project").iterdir()) == before
    assert recipe.read_text().startswith('name = "mine"')


def test_prepare_out_refuses_an_existing_file(tmp_path):
    recipe = _custom_recipe(tmp_path / "project")
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    p = _ftw(["prepare", str(recipe), "--out", str(target)], tmp_path)
    assert p.returncode == 2 and "is a file" in p.stderr
    assert target.read_text() == "my notes"


def test_prepare_out_dot_is_a_usage_error(tmp_path):
    recipe = _custom_recipe(tmp_path / "project")
    p = _ftw(["prepare", str(recipe), "--out", "."], tmp_path / "project")
    assert p.returncode == 2 and "current folder" in p.stderr, p.stderr
    assert (tmp_path / "project" / "mine.toml").exists()


def test_prepare_replaces_its_own_output_and_writes_into_an_empty_folder(tmp_path):
    recipe = _custom_recipe(tmp_path / "project")
    out = tmp_path / "out"
    out.mkdir()
    assert _ftw(["prepare", str(recipe), "--out", str(out)], tmp_path).returncode == 0
    assert (out / OUTPUT_MARKER).is_file() and (out / "train.jsonl").is_file()
    (out / "train.jsonl").write_text("stale\n")
    assert _ftw(["prepare", str(recipe), "--out", str(out)], tmp_path).returncode == 0
    assert (out / "train.jsonl").read_text() != "stale\n"


def test_atomic_dir_refuses_a_users_folder_and_leaves_it_whole(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(UsageError, match="never replaces"):
        with atomic_dir(mine) as tmp:
            (tmp / "x").write_text("x")
    assert (mine / "thesis.tex").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"], "no half-built folder left behind"


def test_atomic_dir_replaces_folders_inside_a_run_directory(tmp_path):
    """adapter/ and merged/ of runs made before the marker existed are still ftwizard's own."""
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "recipe.toml").write_text('name = "x"\n')
    (run / "status.json").write_text("{}")
    (run / "adapter" / "old.bin").write_text("old")
    with atomic_dir(run / "adapter") as tmp:
        (tmp / "new.bin").write_text("new")
    assert (run / "adapter" / "new.bin").exists() and not (run / "adapter" / "old.bin").exists()
