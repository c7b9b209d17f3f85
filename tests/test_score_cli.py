"""`ftwizard score`: any predictions file judged the same way; bad lines named, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

from ftwizard.cli import output
from ftwizard.cli.main import main

CTX = "CREATE TABLE singer (name VARCHAR, country VARCHAR, age INTEGER)"


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _run(argv, capsys):
    output.reset()
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_score_sql_json(tmp_path, capsys):
    f = _write(tmp_path / "p.jsonl", [
        {"prediction": "SELECT name FROM singer WHERE age > 20", "reference": "SELECT name FROM singer WHERE age > 20",
         "context": CTX},
        {"prediction": "select name from singer where 20 < age", "reference": "SELECT name FROM singer WHERE age > 20",
         "context": CTX},
        {"prediction": "SELECT name FROM singer WHERE age >= 20", "reference": "SELECT name FROM singer WHERE age > 20",
         "context": CTX},
        {"prediction": "SELECT nme FROM singer", "reference": "SELECT name FROM singer", "context": CTX},
    ])
    code, out, _ = _run(["score", "--task", "sql", str(f), "--json", "--per-example"], capsys)
    assert code == 0
    report = json.loads(out)
    m = report["metrics"]
    assert report["n"] == 4
    assert m["exact_match"]["value"] == 0.25
    assert m["normalized_match"]["value"] == 0.5
    assert m["execution_match"]["value"] == 0.5
    assert m["execution_match"]["ci_low"] < 0.5 < m["execution_match"]["ci_high"]
    assert [e["verdicts"]["execution_match"] for e in report["examples"]] == [True, True, False, False]
    assert report["examples"][3]["execution_detail"] == "pred_error"


def test_score_viggo_table(tmp_path, capsys):
    gold = "inform(name[Halo], rating[good], platforms[Xbox])"
    f = _write(tmp_path / "p.jsonl", [
        {"prediction": gold, "reference": gold},
        {"prediction": "inform(platforms[Xbox], name[Halo], rating[good])", "reference": gold},
        {"prediction": "inform(name[Halo], rating[poor], platforms[Xbox])", "reference": gold},
    ])
    code, out, _ = _run(["score", "--task", "viggo", str(f)], capsys)
    assert code == 0
    assert "exact_match" in out and "33.3%" in out  # 1 of 3 exact
    assert "attribute_set_match" in out and "100.0%" in out
    assert "slot_f1" in out and "slot_precision" in out and "slot_recall" in out
    code, out, _ = _run(["score", "--task", "viggo", str(f), "--json"], capsys)
    m = json.loads(out)["metrics"]
    assert abs(m["slot_f1"]["value"] - 8 / 9) < 1e-9
    assert abs(m["meaning_match"]["value"] - 2 / 3) < 1e-9  # the reordered one means the same
    assert json.loads(out)["metric"] == "meaning_match"
    assert "examples" not in json.loads(out)


def test_bad_lines_are_named_exit_2_no_traceback(tmp_path):
    f = _write(tmp_path / "p.jsonl", [
        {"prediction": "SELECT 1", "reference": "SELECT 1", "context": CTX},
        "{not json",
        {"prediction": "SELECT 1", "reference": "SELECT 1"},
        {"prediction": 3, "reference": "SELECT 1", "context": CTX},
        "[1, 2]",
    ])
    r = subprocess.run([sys.executable, "-m", "ftwizard", "score", "--task", "sql", str(f)], capture_output=True,
                       text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    for expected in ("line 2: not valid JSON", "line 3: missing `context`", "line 4: `prediction` must be a string",
                     "line 5: a JSON object was expected"):
        assert expected in r.stderr
    assert r.stdout == ""
    missing = subprocess.run([sys.executable, "-m", "ftwizard", "score", "--task", "viggo", str(tmp_path / "nope.jsonl")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "not found" in missing.stderr
