"""Bad data files through the real `ftwizard prepare`: exit 2 with the file, the line and the problem, never a
traceback; and the limits on untrusted files (line length, CSV field size) named when exceeded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard import datasource
from ftwizard.errors import UsageError

REPO = Path(__file__).resolve().parent.parent

GOOD = {"messages": [{"role": "system", "content": "Sort the ticket."}, {"role": "user", "content": "I was charged twice"},
                     {"role": "assistant", "content": "billing"}]}


def prepare(tmp_path: Path, recipe: str) -> subprocess.CompletedProcess:
    (tmp_path / "r.toml").write_text(recipe, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "ftwizard", "prepare", str(tmp_path / "r.toml"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path, timeout=120)


def chat_recipe(train: str, eval_: str | None = None) -> str:
    return (f'name = "t"\ntask = "custom"\n[data]\nsource = "files"\ntrain = "{train}"\n'
            f'eval = "{eval_ if eval_ is not None else train}"\n')


def write_jsonl(path: Path, rows: list, *, broken_line: int | None = None, text: str | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    if broken_line is not None:
        lines[broken_line - 1] = text if text is not None else lines[broken_line - 1][:-5]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_usage_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and "unexpected" not in p.stderr.lower(), p.stderr
    for n in needles:
        assert n in p.stderr, (n, p.stderr)


def test_chat_file_with_a_broken_line(tmp_path):
    write_jsonl(tmp_path / "chat.jsonl", [GOOD] * 12, broken_line=7)
    assert_usage_error(prepare(tmp_path, chat_recipe("chat.jsonl")), "chat.jsonl: line 7: not valid JSON")


def test_chat_example_without_an_assistant_turn(tmp_path):
    rows = [GOOD] * 12
    rows[4] = {"messages": GOOD["messages"][:2]}
    write_jsonl(tmp_path / "chat.jsonl", rows)
    assert_usage_error(prepare(tmp_path, chat_recipe("chat.jsonl")), "chat.jsonl: line 5: no assistant message")


def test_chat_example_with_an_unknown_role(tmp_path):
    rows = [GOOD] * 12
    rows[2] = {"messages": [{"role": "human", "content": "hi"}, {"role": "assistant", "content": "billing"}]}
    write_jsonl(tmp_path / "chat.jsonl", rows)
    assert_usage_error(prepare(tmp_path, chat_recipe("chat.jsonl")), "chat.jsonl: line 3", "unknown role `human`",
                       "roles: system, user, assistant")


def test_chat_weight_and_keys_are_checked(tmp_path):
    rows = [GOOD] * 12
    rows[0] = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "weight": 2}]}
    rows[1] = {"messages": [{"role": "user", "content": "x", "tone": "calm"}, {"role": "assistant", "content": "y"}]}
    write_jsonl(tmp_path / "chat.jsonl", rows)
    p = prepare(tmp_path, chat_recipe("chat.jsonl"))
    assert_usage_error(p, "line 1: message 2: `weight` must be 0 or 1", "line 2: message 1: unknown key `tone`")


def test_field_map_naming_a_missing_column(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nhello,a\n", encoding="utf-8")
    recipe = ('name = "t"\ntask = "custom"\n[data]\nsource = "files"\ntrain = "t.csv"\neval = "t.csv"\n'
              '[data.columns]\nticket = "body"\n[prompt]\ntemplate = "{ticket}\\n{label}\\n"\nanswer_field = "label"\n')
    assert_usage_error(prepare(tmp_path, recipe), "data.columns.ticket names column `body`", "t.csv")


def test_jsonl_row_without_the_answer_column_names_file_and_line(tmp_path):
    rows = [{"text": f"t{i}", "label": "a"} for i in range(12)]
    rows[8] = {"text": "no label here"}
    write_jsonl(tmp_path / "d.jsonl", rows)
    recipe = ('name = "t"\ntask = "custom"\n[data]\nsource = "files"\ntrain = "d.jsonl"\neval = "d.jsonl"\n'
              '[prompt]\ntemplate = "Ticket: {text}\\nCategory:\\n{label}\\n"\nanswer_field = "label"\n')
    assert_usage_error(prepare(tmp_path, recipe), "d.jsonl: line 9: no `label`")


def test_not_utf8_names_file_line_and_byte(tmp_path):
    good = "\n".join(json.dumps(GOOD) for _ in range(3)) + "\n"
    data = good.encode() + b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n'
    (tmp_path / "chat.jsonl").write_bytes(data)
    offset = data.index(b"\xe9")
    assert_usage_error(prepare(tmp_path, chat_recipe("chat.jsonl")), "chat.jsonl: line 4: not UTF-8",
                       f"byte {offset:,}")


def test_csv_fields_beyond_pythons_default_limit_load(tmp_path):
    big = "x" * 200_000  # Python's csv stops at 131,072 by default
    (tmp_path / "d.csv").write_text("text,label\n" + "".join(f"{big},a\nshort {i},b\n" for i in range(6)),
                                    encoding="utf-8")
    rows = datasource.read_file(tmp_path / "d.csv")
    assert len(rows) == 12 and len(rows[0]["text"]) == 200_000


def test_csv_field_over_the_limit_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(datasource, "CSV_FIELD_LIMIT", 1000)
    (tmp_path / "d.csv").write_text("text,label\nok,a\n\"" + "x" * 1500 + "\",b\n", encoding="utf-8")
    with pytest.raises(UsageError) as e:
        datasource.read_csv_records(tmp_path / "d.csv")
    msg = str(e.value)
    assert "d.csv: line 3" in msg and "the limit of 1,000 characters per CSV field" in msg


def test_overlong_line_states_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(datasource, "MAX_LINE_CHARS", 100)
    write_jsonl(tmp_path / "d.jsonl", [{"a": "b"}, {"a": "x" * 200}])
    with pytest.raises(UsageError) as e:
        datasource.read_jsonl_records(tmp_path / "d.jsonl")
    assert "d.jsonl: line 2" in str(e.value) and "over the limit of 100 per line" in str(e.value)


def test_overlong_line_through_the_cli(tmp_path):
    # The real limit (8,000,000 characters), through the real command.
    (tmp_path / "chat.jsonl").write_text(json.dumps(GOOD) + "\n" + '{"x": "' + "y" * datasource.MAX_LINE_CHARS
                                         + '"}\n', encoding="utf-8")
    assert_usage_error(prepare(tmp_path, chat_recipe("chat.jsonl")), "chat.jsonl: line 2",
                       f"over the limit of {datasource.MAX_LINE_CHARS:,} per line")


def test_detect_format():
    assert datasource.detect_format([GOOD]) == "chat"
    assert datasource.detect_format([{"prompt": "a", "completion": "b"}]) == "prompt_completion"
    assert datasource.detect_format([{"instruction": "a", "input": "", "output": "b"}]) == "alpaca"
    assert datasource.detect_format([{"prompt": "a", "completion": "b"}], has_template=True) == "fields"
    assert datasource.detect_format([{"text": "a", "label": "b"}]) == "fields"


def test_local_run_refuses_a_row_without_the_answer_before_starting(tmp_path):
    """The local backend's preflight (what `ftwizard run` calls before a run directory exists): a usage error
    naming file and line, not a KeyError from the training process."""
    rows = [{"text": f"t{i}", "label": "a"} for i in range(12)]
    rows[5] = {"text": "no label"}
    write_jsonl(tmp_path / "d.jsonl", rows)
    (tmp_path / "r.toml").write_text(
        'name = "t"\ntask = "custom"\nbackend = "local"\n[data]\nsource = "files"\ntrain = "d.jsonl"\neval = "d.jsonl"\n'
        '[prompt]\ntemplate = "{text}\\n{label}\\n"\nanswer_field = "label"\n[hardware]\ndevice = "cpu"\n',
        encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "ftwizard", "run", str(tmp_path / "r.toml"), "--runs-dir",
                        str(tmp_path / "runs")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert_usage_error(p, "d.jsonl: line 6: no `label`")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_prompt_completion_and_alpaca_rows_missing_their_answer(tmp_path):
    rows = [{"prompt": f"p{i}", "completion": "c"} for i in range(12)]
    rows[3] = {"prompt": "p3"}
    write_jsonl(tmp_path / "pc.jsonl", rows)
    assert_usage_error(prepare(tmp_path, chat_recipe("pc.jsonl") + 'format = "prompt_completion"\n'),
                       "pc.jsonl: line 4: no `completion`")
    rows = [{"instruction": "Sort it.", "input": f"t{i}", "output": "a"} for i in range(12)]
    rows[10] = {"instruction": "Sort it.", "input": "t10"}
    write_jsonl(tmp_path / "al.jsonl", rows)
    assert_usage_error(prepare(tmp_path, chat_recipe("al.jsonl")), "al.jsonl: line 11: no `output` text")


def test_json_python_cannot_read_is_a_usage_error(tmp_path):
    """Deep nesting and integers of more than 4,300 digits: JSON that parses in principle, refused with the line."""
    (tmp_path / "d.jsonl").write_text('{"a": 1}\n{"a": ' + "1" * 5000 + '}\n' + "[" * 100_000 + "\n",
                                      encoding="utf-8")
    with pytest.raises(UsageError) as e:
        datasource.read_jsonl_records(tmp_path / "d.jsonl")
    msg = str(e.value)
    assert "d.jsonl: line 2: not readable JSON (Exceeds the limit (4300 digits)" in msg
    assert "d.jsonl: line 3: not valid JSON" in msg


def test_missing_eval_file_says_how_to_hold_out(tmp_path):
    write_jsonl(tmp_path / "chat.jsonl", [GOOD] * 12)
    recipe = 'name = "t"\ntask = "custom"\n[data]\nsource = "files"\ntrain = "chat.jsonl"\n'  # eval left at "test"
    assert_usage_error(prepare(tmp_path, recipe), "data.eval = 'test': data file not found",
                       "data.eval = '' to hold out a seeded 10%")


def test_data_files_are_read_a_line_at_a_time(tmp_path, monkeypatch):
    """A data file is streamed, never held whole (as bytes, then text, then a list of lines): an over-long line
    is refused after reading about the limit, not the file."""
    import tracemalloc

    path = tmp_path / "big.jsonl"
    with open(path, "w") as f:
        f.write('{"text": "a", "label": "b"}\n')
        f.write('{"text": "' + "x" * 30_000_000 + '"}\n')  # 30 MB on one line
    monkeypatch.setattr(datasource, "MAX_LINE_CHARS", 1000)
    tracemalloc.start()
    try:
        with pytest.raises(UsageError) as e:
            datasource.read_jsonl_records(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "big.jsonl: line 2" in str(e.value) and "over the limit of 1,000 per line" in str(e.value)
    assert peak < 1_000_000, f"{peak:,} bytes held to read a file with a 30 MB line"


def test_a_json_lines_file_named_csv_is_refused_without_showing_its_first_line(tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text('{"text": "my card number is 4111", "label": "billing"}\n{"text": "b", "label": "bug"}\n')
    with pytest.raises(UsageError) as e:
        datasource.read_records(path)
    msg = str(e.value)
    assert "tickets.csv: line 1 is JSON, not a CSV header" in msg and ".jsonl" in msg
    assert "4111" not in msg
