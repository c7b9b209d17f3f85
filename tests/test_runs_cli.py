"""`ftwizard runs`: past runs with state, the deciding metric with its interval, cost and age."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftwizard.cli.main import main
from ftwizard.recipe import load_recipe
from ftwizard.runs.directory import RunDirectory
from ftwizard.tasks import get_task
from tests.fake_trainer import main as fake_main

REPO = Path(__file__).resolve().parent.parent


def make_run(runs_dir: Path, name: str, backend: str, *, usd: float, value: float | None, age_s: float) -> RunDirectory:
    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml").with_updates({"backend": backend, "name": name})
    run = RunDirectory.create(runs_dir, name, recipe.to_toml())
    assert fake_main([str(run.path), "--steps", "5", "--step-time", "0", "--training-usd", str(usd)]) == 0
    metric = get_task("viggo", recipe).primary_metric(recipe)
    metrics = {"task": "viggo", "n": 40, "metrics": {}}
    if value is not None:  # the deciding metric, as the evaluator records it
        metrics["metrics"][metric] = {"n": 40, "value": value, "ci_low": value - 0.1, "ci_high": value + 0.05}
    run.metrics_path.write_text(json.dumps(metrics))
    run.update_status(created_at=time.time() - age_s)
    return run


@pytest.fixture(autouse=True)
def _fresh_consoles():
    from ftwizard.cli import output

    output.reset()  # consoles made under another test's captured streams
    yield
    output.reset()


@pytest.fixture
def runs_dir(tmp_path):
    d = tmp_path / "runs"
    make_run(d, "old-local", "local", usd=0.02, value=0.8, age_s=3 * 86400)
    make_run(d, "new-hosted", "hosted", usd=1.23, value=0.85, age_s=2 * 3600)
    make_run(d, "fresh-local", "local", usd=0.5, value=None, age_s=30)
    return d


def test_runs_json_lists_state_metric_cost_and_age(runs_dir, capsys):
    assert main(["runs", "--runs-dir", str(runs_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    runs = out["runs"]
    names = [r["name"].rsplit("-", 1)[0] for r in runs]  # run folders are <recipe name>-<UTC stamp>
    assert names == ["fresh-local", "new-hosted", "old-local"], "newest first"
    by = dict(zip(names, runs))
    decider = get_task("viggo").primary_metric()
    assert all(r["metric"] == decider and r["state"] == "succeeded" for r in runs)
    assert (by["new-hosted"]["value"], by["new-hosted"]["ci_low"], by["new-hosted"]["ci_high"]) == \
        pytest.approx((0.85, 0.75, 0.90))
    assert by["fresh-local"]["value"] is None
    assert (by["old-local"]["training_usd"], by["new-hosted"]["training_usd"]) == (0.02, 1.23)
    assert by["new-hosted"]["backend"] == "hosted" and by["old-local"]["backend"] == "local"
    assert by["old-local"]["age_s"] == pytest.approx(3 * 86400, abs=60)
    assert out["skipped"] == []


def test_runs_table_for_people(runs_dir, capsys):
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    for text in ("old-local", "new-hosted", "fresh-local", "succeeded", "$1.23", "3 d", "2 h", "30 s", "[0.75, 0.90]"):
        assert text in out, text


def test_runs_empty_and_bad_folders(tmp_path, capsys):
    assert main(["runs", "--runs-dir", str(tmp_path / "none")]) == 0
    assert "no runs in" in capsys.readouterr().err
    f = tmp_path / "a-file"
    f.write_text("x")
    out = subprocess.run([str(Path(sys.executable).with_name("ftwizard")), "runs", "--runs-dir", str(f)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "a-file" in out.stderr and "not a folder" in out.stderr and "Traceback" not in out.stderr


def test_a_broken_run_folder_is_skipped_and_named(runs_dir, capsys):
    broken = runs_dir / "broken-1"
    broken.mkdir()
    (broken / "recipe.toml").write_text("name = [\n")
    assert main(["runs", "--runs-dir", str(runs_dir), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert len(out["runs"]) == 3 and any("broken-1" in s for s in out["skipped"])
    assert "broken-1" in captured.err


def test_help_lists_runs(capsys):
    for argv in (["--help"], ["runs", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        assert "deciding metric (95% interval)" in " ".join(capsys.readouterr().out.split())
