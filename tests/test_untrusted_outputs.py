"""Model output is untrusted input to every metric: bounded JSON parsing, a bounded SQL reference, and a judge
with a timeout and retries that never caches an answer it could not read."""

from __future__ import annotations

import json
import time

import pytest

from ftwizard.evaluation.custom_metrics import MAX_JSON_DEPTH, MAX_NUMBER_DIGITS, parse_json
from ftwizard.evaluation.score import score_file
from ftwizard.tasks import get_task
from tests.fake_openai import DEFAULT_KEY, FakeOpenAI

REF = '{"a": 1, "b": [1, 2]}'


@pytest.mark.parametrize("prediction,problem", [
    ('{"a": ' + "9" * 400 + "}", f"more than {MAX_NUMBER_DIGITS} digits"),          # was OverflowError
    ('{"a": ' + "9" * 4301 + "}", f"more than {MAX_NUMBER_DIGITS} digits"),         # was ValueError
    ("[" * 3000 + "]" * 3000, f"nested deeper than {MAX_JSON_DEPTH} levels"),       # was RecursionError
    ('{"a": NaN}', "NaN is not JSON"),
    ('{"a": 1e999}', "too large for a float"),
])
def test_a_hostile_json_prediction_scores_as_wrong_with_its_reason(prediction, problem):
    value, why, _ = parse_json(prediction)
    assert value is None and problem in why
    task = get_task("custom", metric="json")
    verdicts, details = task.score(prediction, REF, {})
    assert verdicts == {"json_match": False, "json_valid": False} and problem in details["json_problem"]


def test_json_within_the_bounds_still_scores():
    deep = '{"a": 1, "b": [1, 2], "c": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    assert parse_json(deep)[1] is None
    assert parse_json('{"a": ' + "9" * MAX_NUMBER_DIGITS + "}")[1] is None
    task = get_task("custom", metric="json")
    assert task.score('```json\n{"b": [1, 2], "a": 1.0}\n```', REF, {})[0]["json_match"] is True


def test_a_600_kb_sql_reference_is_bounded():
    from ftwizard.evaluation.sql_metrics import score_pair

    ref = "SELECT a FROM t WHERE a IN (" + ",".join(str(i) for i in range(100_000)) + ")"
    t0 = time.monotonic()
    v = score_pair("SELECT a FROM t", ref, "CREATE TABLE t (a number, b text)")
    assert time.monotonic() - t0 < 2.0, "sqlglot read the whole 600 KB reference"
    assert not v["normalized_match"] and not v["execution_match"] and v["execution_detail"] == "gold_too_long"


GARBAGE = ["", "{" + "[" * 5000, '{"pass": ' + "9" * 5000 + "}", '{"pass": true, "reason": ' + "1" * 400 + "}",
           '{"pass": NaN}', "I cannot tell.", '{"pass": "yes"}']


@pytest.fixture
def judge_server(monkeypatch, tmp_path):
    fake = FakeOpenAI(chat_answer=lambda model, messages: json.dumps({"pass": True, "reason": "ok"})).start()
    monkeypatch.setenv("FTWIZARD_JUDGE_BASE_URL", fake.url)
    monkeypatch.setenv("FTWIZARD_JUDGE_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("FTWIZARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FTWIZARD_HOSTED_RETRY_BASE_SECONDS", "0.01")
    yield fake
    fake.stop()


def _rows(tmp_path, n):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"prediction": f"answer {i}", "reference": "x", "input": "q"}) + "\n"
                            for i in range(n)))
    return path


def test_garbage_judge_replies_are_fails_and_never_cached(judge_server, tmp_path):
    replies = {f"answer {i}": g for i, g in enumerate(GARBAGE)}
    judge_server.chat_answer = lambda model, messages: replies[messages[-1]["content"].rsplit("\n", 1)[-1]]
    path = _rows(tmp_path, len(GARBAGE))
    report = score_file(path, "custom", metric="judge", judge_model="gpt-4o-mini")
    assert [e["verdicts"]["judge_pass"] for e in report["examples"]] == [False] * len(GARBAGE)
    assert report["breakdown"]["unreadable"] == len(GARBAGE)
    assert not list((tmp_path / "cache" / "judge").rglob("*.json")), "an unreadable answer was cached"
    calls = judge_server.calls["chat"]
    replies.update({k: json.dumps({"pass": True, "reason": "fine now"}) for k in replies})
    again = score_file(path, "custom", metric="judge", judge_model="gpt-4o-mini")
    assert judge_server.calls["chat"] == calls + len(GARBAGE), "asked again, not read from a cache"
    assert again["metrics"]["judge_pass"]["value"] == 1.0


def test_the_judge_retries_a_5xx_and_a_timeout_with_the_provider_policy(judge_server, tmp_path, monkeypatch):
    monkeypatch.setenv("FTWIZARD_HOSTED_TIMEOUT_SECONDS", "0.5")
    judge_server.slow_s = 2.0
    judge_server.fail("chat", (500, "server_error", "boom"), "slow")
    report = score_file(_rows(tmp_path, 1), "custom", metric="judge", judge_model="gpt-4o-mini")
    assert report["examples"][0]["verdicts"]["judge_pass"] is True
    assert judge_server.calls["chat"] == 3, "a 5xx, a timeout, then the answer"


def test_a_hosted_run_whose_model_answers_a_400_digit_number_scores_it_wrong_and_succeeds(tmp_path, monkeypatch):
    """The issue's case: the JSON metric met degenerate repetition and a paid run was marked failed."""
    from tests import test_hosted

    server = FakeOpenAI().start()
    try:
        for k, v in {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": server.url,
                     "FTWIZARD_HOSTED_POLL_SECONDS": "0.02", "FTWIZARD_HOSTED_RETRY_BASE_SECONDS": "0.01",
                     "FTWIZARD_AS_OF": "2026-12-01"}.items():
            monkeypatch.setenv(k, v)
        rows = [{"text": f"order {i}", "label": json.dumps({"id": i, "ok": i % 2 == 0})} for i in range(24)]
        data = tmp_path / "orders.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        recipe = tmp_path / "orders.toml"
        recipe.write_text(f'name = "orders"\ntask = "custom"\nbackend = "hosted"\n[data]\nsource = "files"\n'
                          f'train = "{data}"\neval = "{data}"\n[prompt]\ntemplate = "{{text}}\\n{{label}}"\n'
                          'answer_field = "label"\n[hosted]\nprovider = "openai"\nmodel = "gpt-4o-mini-2024-07-18"\n'
                          '[eval]\nmetric = "json"\nlimit = 4\n')

        def answer(model, messages):
            i = int(messages[-1]["content"].split("order ", 1)[1].split()[0])
            return '{"id": ' + "9" * 400 + "}" if i == 1 else json.dumps({"id": i, "ok": i % 2 == 0})

        server.chat_answer = answer
        run = test_hosted.make_run(tmp_path, [], recipe)
        assert test_hosted.work(run) == 0
        assert run.state == "succeeded" and server.job_creates == 1
        metrics = json.loads(run.metrics_path.read_text())
        assert metrics["metrics"]["json_match"]["value"] == 0.75 and metrics["metrics"]["json_valid"]["n"] == 4
        preds = [json.loads(line) for line in run.predictions_path.read_text().splitlines()]
        bad = next(p for p in preds if p["index"] == 1)
        assert bad["verdicts"]["json_match"] is False
    finally:
        server.stop()
