"""The paired test of fine-tuned against untuned, shown wherever accuracy is compared: `run`'s summary (text and
--json), `compare` (table and JSON), the wizard's verdict and report.md. The numbers are the verdict's own
(`verdict.compare.gain_over_base`: exact McNemar on the discordant pairs)."""

from __future__ import annotations

import argparse
import json

from ftwizard.evaluation.stats import mcnemar_exact
from ftwizard.runs.directory import RunDirectory
from ftwizard.verdict.render import p_value
from tests.fixtures_runs import outcomes, paired_outcomes, write_run
from tests.test_compare_cli import ftwizard


def demo_like_run(tmp_path):
    """The CPU demo's measured outcome: 24 examples right only after tuning, none only before (of 120)."""
    tuned, base = paired_outcomes(120, both=0, a_only=24, b_only=0, seed=3)
    return write_run(tmp_path, "viggo-cpu-demo", verdicts=tuned, baseline_verdicts=base, training_usd=0.01,
                     price_per_hour=0.05)


def test_p_value_is_exact_never_floored():
    assert p_value(mcnemar_exact(24, 0)) == "1.2e-7"
    assert p_value(0.043) == "0.043" and p_value(1.0) == "1"


def test_run_prints_the_gain_with_its_p_value_and_discordant_counts(tmp_path, monkeypatch, capsys):
    from ftwizard.cli import run as run_cli

    run = demo_like_run(tmp_path)

    def fake_run(args):  # the run itself is another test's business: here, what is said once it ended
        args._run_dir = RunDirectory(run.path)
        return 0

    monkeypatch.setattr(run_cli, "_run", fake_run)
    assert run_cli.run(argparse.Namespace(json=False, detach=False)) == 0
    out = capsys.readouterr().out
    assert "meaning match 20.0% vs 0.0% untuned, +20.0 points" in out
    assert "exact McNemar test p = 1.2e-7 on 120 paired examples (24 right only tuned vs 0 right only untuned)" in out
    assert run_cli.run(argparse.Namespace(json=True, detach=False)) == 0
    g = json.loads(capsys.readouterr().out)["gain_over_base"]
    assert (g["tuned_only"], g["base_only"], g["n"]) == (24, 0, 120)
    assert g["p_value"] == mcnemar_exact(24, 0) and g["significant"] is True


def test_compare_table_and_json_show_the_gain_over_the_untuned_model(tmp_path):
    run = demo_like_run(tmp_path)
    p = ftwizard("compare", run.path, "--as-of", "2026-12-01", "--json", "--no-report")
    assert p.returncode == 0, p.stderr
    g = json.loads(p.stdout)["runs"][0]["gain_over_base"]
    assert (g["tuned_only"], g["base_only"], round(g["p_value"], 9)) == (24, 0, round(mcnemar_exact(24, 0), 9))
    p = ftwizard("compare", run.path, "--as-of", "2026-12-01", "--no-report")
    assert p.returncode == 0, p.stderr
    text = " ".join(p.stdout.split())
    assert "24 right only tuned vs 0 right only untuned" in text and "p = 1.2e-7" in text


def test_a_run_without_a_baseline_says_nothing_it_does_not_know(tmp_path):
    run = write_run(tmp_path, "viggo-cpu-demo", verdicts=outcomes(40, 20), training_usd=0.01, price_per_hour=0.05)
    from ftwizard.cli.run import gain_over_base

    assert gain_over_base(RunDirectory(run.path)) == (None, None)
