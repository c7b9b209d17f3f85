"""`ftwizard compare` end to end: the real command in a subprocess, on run directories written as the backends do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.fixtures_runs import imported_pair, seed_sql_pair

PNG = b"\x89PNG\r\n\x1a\n"


def ftwizard(*args, cwd=None):
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    return subprocess.run([sys.executable, "-m", "ftwizard", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_compare_json_and_the_report_in_the_first_run(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    p = ftwizard("compare", hosted.path, local.path, "--requests-per-month", "1000000", "--as-of", "2023-10-01",
                 "--margin", "5", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)  # stdout is JSON only; progress went to stderr
    assert data["recommendation"]["case"] == "local-as-good" and data["margin"] == 0.05
    assert data["comparison"]["hosted_only_correct"] == 40 and data["comparison"]["local_only_correct"] == 28
    assert round(data["comparison"]["training_cost_ratio"], 1) == 3.6
    assert data["requests_per_month"] == 1_000_000
    report = hosted.path / "report.md"
    assert data["report"]["report"] == str(report)
    assert f"report: {report}" in p.stderr
    md = report.read_text()
    assert data["recommendation"]["sentence"] in md
    assert "![Loss curves](report-loss.png)" in md and "![Accuracy against training cost](report-accuracy-cost.png)" in md
    for name in ("report-loss.png", "report-accuracy-cost.png"):
        blob = (hosted.path / name).read_bytes()
        assert blob.startswith(PNG) and len(blob) > 10_000  # a drawn picture, not an empty canvas


def test_compare_table_private_data_and_report_elsewhere(tmp_path):
    hosted, local = seed_sql_pair(tmp_path)
    out = tmp_path / "out" / "verdict.md"
    p = ftwizard("compare", hosted.path, local.path, "--private-data", "--report", out, "--as-of", "2023-10-01")
    assert p.returncode == 0, p.stderr
    assert "the data must stay on your machines" in p.stdout
    assert "execution match *" in p.stdout and "82.0%" in p.stdout and "79.9%" in p.stdout
    assert "exact McNemar test on 568 shared examples" in p.stdout
    assert out.exists() and (out.parent / "verdict-loss.png").exists()
    assert (out.parent / "verdict-accuracy-cost.png").exists()
    assert not (hosted.path / "report.md").exists()


def test_compare_imported_job_and_local_run(tmp_path):
    hosted, local = imported_pair(tmp_path, hosted_right=45, local_right=35, both=33)
    p = ftwizard("compare", local.path, hosted.path, "--json", "--no-report", "--as-of", "2026-11-23")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    runs = {r["name"]: r for r in data["runs"]}
    assert runs[hosted.name]["imported"] is True and runs[hosted.name]["backend"] == "hosted"
    assert runs[hosted.name]["availability"] == "new jobs close 2027-01-06"
    assert data["recommendation"]["case"] == "hosted-better"  # 45 vs 35 of 50, 12 vs 2 discordant
    assert "closes to new jobs on 2027-01-06" in data["recommendation"]["sentence"]
    assert data["report"] is None and not (local.path / "report.md").exists()


def test_compare_usage_errors_are_one_clear_message(tmp_path):
    p = ftwizard("compare", tmp_path / "missing", tmp_path)
    assert p.returncode == 2
    assert "run directory not found" in p.stderr and "has no recipe.toml" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""
    hosted, local = seed_sql_pair(tmp_path)
    p = ftwizard("compare", hosted.path, "--as-of", "yesterday")
    assert p.returncode == 2 and "--as-of 'yesterday': expected a date as YYYY-MM-DD" in p.stderr
    p = ftwizard("compare", hosted.path, "--requests-per-month", "-5")
    assert p.returncode == 2 and "must be 0 or more" in p.stderr
