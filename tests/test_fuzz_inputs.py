"""Every bad input is a usage error: property-based fuzzing of recipes, data files and score inputs.

Each generated case runs the real CLI entry (`ftwizard.cli.main.main`, in-process for speed, with the same
error mapping as the console script) and must end with exit 0, 1 or 2 — never an exception that would reach the
user as "unexpected ..." or a traceback — within a bounded time, and an exit 2 names the file it is about.
Sizes are kept small so the whole module runs in well under a minute in CI; FTWIZARD_FUZZ_EXAMPLES raises them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftwizard.cli import output
from ftwizard.cli.main import main
from ftwizard.errors import FtwizardError

EXAMPLES = int(os.environ.get("FTWIZARD_FUZZ_EXAMPLES", "100"))
CASE_SECONDS = 20  # a case that takes longer is a hang
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TRIED: dict[str, int] = {}


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """What `ftwizard ARGV` would do, in-process: (exit code, stdout, stderr). Other exceptions propagate (= bug)."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    t0 = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            output.reset()
            try:
                code = int(main(argv) or 0)
            except FtwizardError as e:
                output.error(str(e))
                code = int(e.exit_code)
            except SystemExit as e:  # argparse
                code = e.code if isinstance(e.code, int) else 2
    except _Hang:
        pytest.fail(f"ftwizard {' '.join(argv)} ran past {CASE_SECONDS} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        output.reset()
    assert time.monotonic() - t0 < CASE_SECONDS
    return code, out.getvalue(), err.getvalue()


def check(argv: list[str], must_name: str | None, kind: str) -> int:
    TRIED[kind] = TRIED.get(kind, 0) + 1
    code, _out, err = run_cli(argv)
    TRIED[f"{kind}: exit {code}"] = TRIED.get(f"{kind}: exit {code}", 0) + 1
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "unexpected" not in err, err
    if code == 2 and must_name and not err.startswith("usage:"):  # argparse names the flag, not a file
        assert must_name in err, f"the message must name {must_name}: {err}"
    return code


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    sys.stderr.write(f"\nfuzz cases tried: {TRIED}\n")


# ---------------------------------------------------------------------------------------------
# Strategies

SCALAR = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, width=32), st.booleans(),
                   st.text(max_size=20), st.just(""), st.just("auto"))
KEYS = {
    "": ["name", "task", "backend", "private_data", "description", "nmae", "tsak"],
    "data": ["source", "train", "eval", "columns", "limit_train", "limit_eval", "format", "trian"],
    "prompt": ["template", "answer_field", "system", "user", "assistant"],
    "model": ["base", "quant", "dtype", "gguf_file"],
    "lora": ["r", "alpha", "dropout", "target_modules"],
    "train": ["max_steps", "epochs", "lr", "warmup_steps", "micro_batch_size", "max_length", "packing"],
    "hosted": ["provider", "model", "epochs", "suffix"],
    "eval": ["limit", "metric", "max_new_tokens", "enabled"],
}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(v)  # a TOML basic string


@st.composite
def recipe_texts(draw, data_file: str):
    lines = ['name = "fuzz"', 'task = "custom"', "[data]", 'source = "files"', f'train = "{data_file}"',
             f'eval = "{data_file}"', "[prompt]", 'template = "{text}\\n{label}"', 'answer_field = "label"']
    for _ in range(draw(st.integers(0, 5))):
        section = draw(st.sampled_from(sorted(KEYS)))
        key = draw(st.sampled_from(KEYS[section]))
        value = draw(st.one_of(SCALAR, st.lists(SCALAR, max_size=3)))
        rendered = ("[" + ", ".join(_toml_value(x) for x in value) + "]") if isinstance(value, list) else _toml_value(value)
        lines.append(f"[{section}]\n{key} = {rendered}" if section else f"{key} = {rendered}")
    text = "\n".join(lines) + "\n"
    mode = draw(st.sampled_from(["as_is", "as_is", "truncate", "nest", "bytes", "dup"]))
    if mode == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif mode == "nest":
        depth = draw(st.integers(50, 3000))
        text += "deep = " + "[" * depth + "]" * depth + "\n"
    elif mode == "dup":
        text += 'name = "again"\n'
    data = text.encode("utf-8")
    if mode == "bytes":
        data += draw(st.binary(min_size=1, max_size=16)) + b"\xff\xfe"
    return data


ROW = st.dictionaries(st.sampled_from(["text", "label", "messages", "prompt", "completion", "other"]),
                      st.one_of(SCALAR, st.lists(st.dictionaries(st.sampled_from(["role", "content", "weight"]),
                                                                  SCALAR, max_size=3), max_size=3)),
                      max_size=4)


@st.composite
def data_files(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["jsonl", "jsonl", "csv", "raw"]))
    if kind == "jsonl":
        rows = draw(st.lists(ROW, min_size=0, max_size=12))
        lines = [json.dumps(r) for r in rows]
        if lines and draw(st.booleans()):
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = lines[i][: max(1, len(lines[i]) // 2)]  # a broken line
        return "data.jsonl", ("\n".join(lines) + "\n").encode()
    if kind == "csv":
        header = draw(st.sampled_from(["text,label", "text", "label,text,extra", ""]))
        body = draw(st.lists(st.text(alphabet='ab,"\n ', max_size=12), max_size=10))
        return "data.csv", (header + "\n" + "\n".join(body)).encode()
    return "data.jsonl", draw(st.binary(max_size=200))


GOOD_ROWS = "".join(json.dumps({"text": f"ticket {i}", "label": ["bug", "billing"][i % 2]}) + "\n" for i in range(20))


# ---------------------------------------------------------------------------------------------
# Properties

@FUZZ
@given(recipe=recipe_texts("DATA"))
def test_fuzzed_recipes_are_usage_errors_or_work(tmp_path_factory, recipe):
    d = tmp_path_factory.mktemp("r")
    (d / "data.jsonl").write_text(GOOD_ROWS)
    path = d / "fuzz.toml"
    path.write_bytes(recipe.replace(b"DATA", str(d / "data.jsonl").encode()))
    check(["prepare", str(path), "--out", str(d / "out"), "--json"], path.name, "recipe")


@FUZZ
@given(data=data_files())
def test_fuzzed_data_files_are_usage_errors_or_work(tmp_path_factory, data):
    name, content = data
    d = tmp_path_factory.mktemp("d")
    (d / name).write_bytes(content)
    path = d / "fuzz.toml"
    path.write_text('name = "fuzz"\ntask = "custom"\n[data]\nsource = "files"\n'
                    f'train = "{d / name}"\neval = "{d / name}"\n'
                    '[prompt]\ntemplate = "{text}\\n{label}"\nanswer_field = "label"\n')
    check(["prepare", str(path), "--out", str(d / "out")], name, "data")


@FUZZ
@given(task=st.sampled_from(["sql", "viggo", "custom"]),
       rows=st.lists(st.one_of(
           st.fixed_dictionaries({"prediction": SCALAR, "reference": SCALAR},
                                 optional={"context": st.one_of(SCALAR, st.just("CREATE TABLE t (id INT, name TEXT)"))}),
           ROW), max_size=8),
       broken=st.booleans(), raw=st.one_of(st.none(), st.binary(max_size=64)))
def test_fuzzed_score_inputs_are_usage_errors_or_work(tmp_path_factory, task, rows, broken, raw):
    d = tmp_path_factory.mktemp("s")
    path = d / "preds.jsonl"
    if raw is not None:
        path.write_bytes(raw)
    else:
        lines = [json.dumps(r) for r in rows]
        if broken and lines:
            lines[0] = lines[0][:-1]
        path.write_text("\n".join(lines) + ("\n" if lines else ""))
    check(["score", "--task", task, str(path), "--json"], path.name, "score")


# Model output: what a small fine-tune emits (degenerate repetition) and what a judge may answer. Every metric
# reads it as untrusted input: a prediction that cannot be read scores as wrong with a reason, never a crash.
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=False),
                      st.text(max_size=8))
HOSTILE_JSON = st.one_of(
    st.integers(1, 6000).map(lambda n: '{"a": ' + "9" * n + "}"),            # 400 digits: OverflowError; 4,301: ValueError
    st.integers(1, 6000).map(lambda n: '{"a": -0.' + "7" * n + "e-5}"),
    st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),                    # RecursionError
    st.integers(1, 5000).map(lambda n: '{"a": ' + '{"b": ' * n + "1" + "}" * n + "}"),
    st.integers(1, 5000).map(lambda n: '{"a": ' + "[" * n),                   # cut off
    st.sampled_from(['{"a": NaN}', '{"a": Infinity}', '{"a": -1e999}', "1e400", '{"a": 1e308}', '"\ud800"',
                     '{"a": "\u0000"}', "```json\n{\"a\": 1}\n```", "{}" * 3000, "null"]),
    st.integers(1, 300).map(lambda n: '{"a": "' + "ab" * n * 1000 + '"}'),
    st.recursive(JSON_LEAF, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=4), c,
                                                                                         max_size=3)),
                 max_leaves=12).map(json.dumps),
    st.text(max_size=60),
)


@FUZZ
@given(predictions=st.lists(HOSTILE_JSON, min_size=1, max_size=4))
def test_fuzzed_json_predictions_score_as_wrong_never_crash(tmp_path_factory, predictions):
    d = tmp_path_factory.mktemp("j")
    path = d / "preds.jsonl"
    path.write_text("".join(json.dumps({"prediction": p, "reference": '{"a": 1, "b": [1, 2]}'}) + "\n"
                            for p in predictions))
    assert check(["score", "--task", "custom", "--metric", "json", str(path), "--json", "--per-example"],
                 path.name, "json output") == 0


@FUZZ
@given(reply=st.one_of(HOSTILE_JSON, HOSTILE_JSON.map(lambda j: '{"pass": true, "reason": ' + j + "}"),
                       HOSTILE_JSON.map(lambda j: '{"pass": ' + j + "}"), st.text(max_size=40)))
def test_fuzzed_judge_replies_are_read_or_unreadable_never_a_crash(reply):
    from ftwizard.evaluation.judge import read_verdict

    TRIED["judge reply"] = TRIED.get("judge reply", 0) + 1
    passed, reason = read_verdict(reply)
    assert passed in (True, False, None) and isinstance(reason, str) and len(reason) <= 200


RUN_FILES = ["status.json", "metrics.json", "cost.json", "events.jsonl", "recipe.toml", "train_summary.json",
             "predictions.jsonl"]
DAMAGE = st.one_of(st.binary(max_size=40), st.sampled_from([b"", b"{", b"[]", b"null", b'{"state": 7}',
                                                           b'{"state": "running", "pid": "x"}', b"\xff\xfe",
                                                           b'{"metrics": {"a": {"value": "NaN"}}}']),
                   HOSTILE_JSON.map(lambda j: j.encode("utf-8", "surrogatepass")))


@FUZZ
@given(name=st.sampled_from(RUN_FILES), damage=DAMAGE,
       command=st.sampled_from(["runs", "resume", "compare", "cancel", "fetch-adapter"]))
def test_fuzzed_run_directories_are_usage_errors_or_work(tmp_path_factory, name, damage, command):
    """A run folder whose files were damaged (a crash, a full disk, a hand edit): every command that reads it
    ends with a message naming what it could not read - never a second job, never a traceback."""
    from ftwizard.runs.directory import RunDirectory

    d = tmp_path_factory.mktemp("rd")
    run = RunDirectory.create(d / "runs", "x", (Path(__file__).resolve().parent.parent / "recipes" /
                                                 "viggo-gpt35.toml").read_text())
    run.update_status(state="failed", backend="hosted", provider="openai", job_id="ftjob-1", job_outcome="failed")
    (run.path / name).write_bytes(damage)
    argv = {"runs": ["runs", "--runs-dir", str(d / "runs"), "--json"], "resume": ["run", "--resume", str(run.path)],
            "compare": ["compare", str(run.path), "--json"], "cancel": ["cancel", str(run.path), "--json"],
            "fetch-adapter": ["fetch-adapter", str(run.path)]}[command]
    old = os.environ.pop("OPENAI_API_KEY", None)
    try:
        check(argv, run.path.name, "run directory")
    finally:
        if old is not None:
            os.environ["OPENAI_API_KEY"] = old


def test_a_deeply_nested_recipe_is_one_usage_error(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text('name = "x"\ntask = "viggo"\ndeep = ' + "[" * 5000 + "]" * 5000 + "\n")
    code, _, err = run_cli(["estimate", str(path)])
    assert code == 2 and "deep.toml" in err and "nested too deeply" in err


def test_runs_dir_naming_a_file_is_one_usage_error(tmp_path):
    from ftwizard.errors import UsageError
    from ftwizard.runs.directory import RunDirectory

    blocker = tmp_path / "afile"
    blocker.write_text("mine")
    for runs_dir in (blocker, blocker / "runs"):
        with pytest.raises(UsageError, match="afile is a file"):
            RunDirectory.create(runs_dir, "x", 'name = "x"\n')
    assert blocker.read_text() == "mine"
