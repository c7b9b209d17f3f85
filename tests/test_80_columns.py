"""Readable and copyable at 80 columns: `estimate`, `runs` and `compare` fold into fewer columns instead of one
word a line; suggested commands are whole lines; every suggested command works in the state it is suggested in."""

from __future__ import annotations

import json

from tests.fixtures_runs import outcomes, seed_sql_pair, write_run
from tests.test_hosted_defaults import ftw


def test_estimate_candidates_fold_instead_of_one_word_a_line():
    p = ftw("estimate", "viggo-cpu-demo", "--json")
    shown = [c for c in json.loads(p.stdout)["hosted_candidates"] if c["available"]]
    p = ftw("estimate", "viggo-cpu-demo", columns=80)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert max(len(x) for x in lines) <= 80
    table = p.stdout.split("Hosted candidates")[1].split("open: jobs")[0].splitlines()
    rows = [x for x in table if x.startswith("│")]
    assert len(rows) <= 2 * len(shown) + 2, "at most two lines a candidate"
    words_alone = [x for x in rows if len([c for c in x.split("│") if c.strip()]) == 1]
    assert len(words_alone) <= len(shown), "wrapping continues a name or two, never a sentence a word a line"
    assert "GiB peak" in p.stdout and "memory (GiB)" in p.stdout


def test_runs_at_80_columns_keep_each_run_name_whole(tmp_path):
    hosted, local = seed_sql_pair(tmp_path / "runs")
    p = ftw("runs", "--runs-dir", tmp_path / "runs", columns=80)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    for run in (hosted, local):
        assert run.name in lines, "the name alone on its line: copyable into `ftwizard compare`"
    assert any(x.startswith("  ") and "succeeded" in x and "$" in x for x in lines)  # its figures below it


def test_compare_prints_next_commands_as_whole_lines(tmp_path):
    hosted, local = seed_sql_pair(tmp_path / "runs")
    p = ftw("compare", hosted.path, local.path, "--no-report", columns=80)
    assert p.returncode == 0, p.stderr
    data = json.loads(ftw("compare", hosted.path, local.path, "--no-report", "--json").stdout)
    commands = [n["command"] for n in data["recommendation"]["next_runs"]]
    assert commands and any(len(c) > 80 for c in commands)
    for c in commands:
        assert c in p.stdout.splitlines(), f"{c!r} is not one line"


def test_a_failed_run_is_never_told_to_eval(tmp_path):
    """A run that failed before training finished has nothing to evaluate: `compare` suggests what works (a new
    run of its recipe, or `run --resume` where its backend resumes it), never an `eval` that errors."""
    failed = write_run(tmp_path / "runs", "viggo-cpu-demo", state="failed", write_cost=False)
    p = ftw("compare", failed.path, "--no-report", columns=80)
    assert p.returncode == 0, p.stderr
    assert f"ftwizard eval {failed.path}" not in p.stdout
    assert f"not evaluated yet: ftwizard run {failed.path / 'recipe.toml'}" in p.stdout
    e = ftw("eval", failed.path)
    assert e.returncode != 0, "eval really fails here: suggesting it would be wrong"
    # a run that trained (its adapter is there) but was not scored: eval is what works
    trained = write_run(tmp_path / "runs", "viggo-cpu-demo", name="trained", state="succeeded", write_cost=False)
    p = ftw("compare", trained.path, "--no-report", columns=80)
    assert f"not evaluated yet: ftwizard eval {trained.path}" in p.stdout
    # an evaluated run needs no suggestion
    done = write_run(tmp_path / "runs", "viggo-cpu-demo", name="done", verdicts=outcomes(40, 20))
    assert "not evaluated yet" not in ftw("compare", done.path, "--no-report").stdout
