"""Custom-task metrics on hand-written cases: choice (macro-F1 worked by hand), json (field match), the LLM judge
against a local OpenAI-compatible server driven by the real openai SDK (cache and price), and `ftwizard score
--task custom` end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from ftwizard.errors import UsageError
from ftwizard.evaluation.custom_metrics import detect_metric, parse_json
from ftwizard.evaluation.score import score_examples, score_file
from ftwizard.tasks import get_task
from tests.fake_openai import DEFAULT_KEY, FakeOpenAI


def _examples(pairs):
    return [{"prediction": p, "reference": r, "line": i + 1} for i, (p, r) in enumerate(pairs)]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------------------------------------------------
# choice

# gold  pred
#  A     A      A: tp 2, predicted 2, support 3 -> P = 1,   R = 2/3, F1 = 2 * (2/3) / (5/3) = 0.8
#  A     a      B: tp 1, predicted 2, support 2 -> P = 1/2, R = 1/2, F1 = 0.5
#  A     B      C: tp 0, predicted 1, support 1 -> P = 0,   R = 0,   F1 = 0
#  B     B      X is outside the label set: wrong for its gold C, a false positive for no class
#  B     C      macro-F1 = (0.8 + 0.5 + 0) / 3 = 0.4333...; accuracy = 3 / 6
#  C     X
CHOICE = [("A", "A"), (" a ", "A"), ("B", "A"), ("B", "B"), ("C", "B"), ("X", "C")]


def test_choice_macro_f1_matches_the_worked_example():
    task = get_task("custom", metric="choice")
    scored, m = score_examples(task, _examples(CHOICE))
    assert [s["verdicts"]["accuracy"] for s in scored] == [True, True, False, True, False, False]
    assert m["accuracy"]["value"] == 0.5 and m["accuracy"]["n"] == 6
    assert math.isclose(m["macro_f1"]["value"], (0.8 + 0.5 + 0.0) / 3)
    assert 0 <= m["macro_f1"]["ci_low"] <= m["macro_f1"]["value"] <= m["macro_f1"]["ci_high"] <= 1
    assert math.isclose(m["out_of_set"]["value"], 1 / 6)
    b = task.breakdown(scored)
    per = {c["label"]: c for c in b["per_class"]}
    assert (per["A"]["precision"], per["A"]["recall"]) == (1.0, 2 / 3) and math.isclose(per["A"]["f1"], 0.8)
    assert (per["B"]["precision"], per["B"]["recall"], per["B"]["f1"]) == (0.5, 0.5, 0.5)
    assert (per["C"]["precision"], per["C"]["recall"], per["C"]["f1"]) == (0.0, 0.0, 0.0)
    assert b["confusion"]["rows"] == ["A", "B", "C"]
    assert b["confusion"]["columns"][-1] == "(outside the label set)"
    assert b["confusion"]["counts"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    assert b["out_of_set"] == {"count": 1, "most_common": [("X", 1)]}
    assert any("seed 0" in n for n in b["notes"])


def test_choice_bootstrap_interval_is_seeded():
    pairs = CHOICE * 5
    one = score_examples(get_task("custom", metric="choice"), _examples(pairs))[1]["macro_f1"]
    two = score_examples(get_task("custom", metric="choice"), _examples(pairs))[1]["macro_f1"]
    assert one == two and one["ci_low"] < one["value"] < one["ci_high"]


def test_metric_detected_from_the_references():
    assert detect_metric(["billing", "refund", "Billing", "outage", "refund", "billing"])[0] == "choice"
    assert detect_metric(['{"a": 1}', '{"a": 2, "b": [1]}'])[0] == "json"
    assert detect_metric(["Paris is the capital.", "It rains.", "Four."])[0] == "exact"
    assert detect_metric(["a", "b", "c"])[0] == "exact"  # every answer distinct: not a closed set
    long = ["Restart the router, wait a minute, then sign in again with the code we sent you by e-mail."] * 3
    assert detect_metric(long)[0] == "exact" and "judge" in detect_metric(long)[1]
    task = get_task("custom")
    scored, m = score_examples(task, _examples([("billing", "billing"), ("refund", "billing"),
                                                ("refund", "refund"), ("outage", "refund")]))
    assert task.primary_metric() == "accuracy" and set(m) == {"accuracy", "macro_f1", "out_of_set"}
    assert "auto -> choice" in task.breakdown(scored)["chosen"]


def test_the_recipe_offers_every_metric_there_is():
    import typing

    from ftwizard.evaluation.custom_metrics import METRICS
    from ftwizard.recipe import EvalSection

    assert typing.get_args(EvalSection.model_fields["metric"].annotation) == ("auto", *METRICS)
    for cls in METRICS.values():
        assert sum(m.decides for m in cls.specs) == 1


def test_recipe_eval_metric_decides(tmp_path):
    from ftwizard.recipe import parse_recipe

    f = tmp_path / "d.jsonl"
    f.write_text('{"q": "x", "a": "{\\"k\\": 1}"}\n{"q": "y", "a": "{\\"k\\": 2}"}\n')
    base = (f'name = "t"\ntask = "custom"\n[data]\nsource = "files"\ntrain = "{f}"\neval = "{f}"\n'
            '[prompt]\ntemplate = "Q: {q}\\nA: {a}\\n"\nanswer_field = "a"\n')
    auto = parse_recipe(base)
    assert get_task("custom", auto).primary_metric() == "json_match"  # detected from the eval split
    # a run's metrics.json names its metric family: no need to read data that may have moved since
    gone = parse_recipe(base.replace(str(f), str(tmp_path / "moved.jsonl")))
    task = get_task("custom", gone)
    assert task.primary_metric(reported=["accuracy", "macro_f1", "out_of_set"]) == "accuracy"
    assert task.primary_metric(reported=["exact_match"]) == "exact_match"
    assert task.metric_label("macro_f1").startswith("macro-F1") and task.metric_label("odd_one") == "odd one"
    exact = parse_recipe(base + '[eval]\nmetric = "exact"\n')
    task = get_task("custom", exact)
    assert task.primary_metric() == "exact_match" and [m.name for m in task.metric_specs()] == ["exact_match"]


# ---------------------------------------------------------------------------------------------------------
# json

GOLD = '{"name": "Ann Lee", "age": 31, "address": {"city": "Oslo", "zip": "0150"}, "tags": ["a", "b"]}'
# leaf fields: name, age, address.city, address.zip, tags (a list is one field, compared in order)


def test_json_field_match():
    preds = [
        '{"tags": ["a", "b"], "address": {"zip": "0150", "city": "oslo"}, "age": 31.0, "name": "ann  lee"}',
        '```json\n' + GOLD + '\n```',
        GOLD + "\nHope this helps!",  # trailing text: invalid, no match, fields still scored
        '{"name": "Ann Lee", "age": "31", "address": {"city": "Oslo"}}',  # "31" is not 31; zip, tags missing
        "Ann Lee, 31, Oslo",
        GOLD.replace('["a", "b"]', '["b", "a"]'),
    ]
    task = get_task("custom", metric="json")
    scored, m = score_examples(task, _examples([(p, GOLD) for p in preds]))
    v = [(s["verdicts"]["json_valid"], s["verdicts"]["json_match"], s["field_counts"]) for s in scored]
    assert v == [
        (True, True, [5, 5, 5]),
        (True, True, [5, 5, 5]),
        (False, False, [5, 5, 5]),
        (True, False, [2, 3, 5]),
        (False, False, [0, 0, 5]),
        (True, False, [4, 5, 5]),
    ]
    assert scored[2]["json_problem"] == "trailing text after the JSON value"
    assert math.isclose(m["json_valid"]["value"], 4 / 6) and math.isclose(m["json_match"]["value"], 2 / 6)
    assert math.isclose(m["field_precision"]["value"], 21 / 23)
    assert math.isclose(m["field_recall"]["value"], 21 / 30)
    p, r = 21 / 23, 21 / 30
    assert math.isclose(m["field_f1"]["value"], 2 * p * r / (p + r))
    assert task.primary_metric() == "json_match"
    b = task.breakdown(scored)
    assert b["invalid"] == {"trailing text after the JSON value": 1, "not valid JSON": 1}


def test_json_types_are_not_confused():
    task = get_task("custom", metric="json")
    scored, _ = score_examples(task, _examples([('{"flag": 1}', '{"flag": true}'), ('{"n": null}', '{"n": 0}'),
                                                ('{"n": 2}', '{"n": 2.0}')]))
    assert [s["verdicts"]["json_match"] for s in scored] == [False, False, True]
    assert parse_json("  [1, 2] ")[1] is None and parse_json("")[1] == "empty"


def test_json_reference_that_is_not_json_names_the_line():
    with pytest.raises(UsageError, match="line 2: .*reference is not one JSON value"):
        score_examples(get_task("custom", metric="json"), _examples([('{"a": 1}', '{"a": 1}'), ("x", "oops")]))


# ---------------------------------------------------------------------------------------------------------
# judge


def _judge_reply(model, messages):
    """A strict but fair grader: passes when every word of the reference appears in the answer."""
    user = messages[-1]["content"]
    reference = user.split("Reference answer:\n", 1)[1].split("\n\nModel's answer:\n", 1)[0]
    answer = user.split("\n\nModel's answer:\n", 1)[1]
    if answer == "???":
        return "I cannot tell."
    ok = set(reference.lower().split()) <= set(answer.lower().replace(".", " ").split())
    return json.dumps({"pass": ok, "reason": "covers the reference" if ok else "misses part of it"})


JUDGED = [
    {"prediction": "Paris", "reference": "Paris", "input": "Capital of France?"},
    {"prediction": "It is Paris.", "reference": "Paris", "input": "Capital of France?"},  # judge yes, exact no
    {"prediction": "Lyon", "reference": "Paris", "input": "Capital of France?"},
    {"prediction": "???", "reference": "Rome", "input": "Capital of Italy?"},  # unreadable reply: a fail
]


@pytest.fixture
def judge_env(monkeypatch, tmp_path):
    fake = FakeOpenAI(chat_answer=_judge_reply).start()
    monkeypatch.setenv("FTWIZARD_JUDGE_BASE_URL", fake.url)
    monkeypatch.setenv("FTWIZARD_JUDGE_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("FTWIZARD_CACHE_DIR", str(tmp_path / "cache"))
    yield fake
    fake.stop()


def _fake_tokens(messages_text: list[str], reply: str) -> tuple[int, int]:
    """The fake server's usage: 4 + words per message, words of the reply."""
    return sum(4 + max(1, len(t.split())) for t in messages_text), max(1, len(reply.split()))


def test_judge_priced_cached_and_compared_with_exact_match(judge_env, tmp_path):
    f = _write(tmp_path / "p.jsonl", JUDGED)
    report = score_file(f, "custom", metric="judge", judge_model="gpt-4o-mini", judge_rubric="Same city?")
    assert judge_env.calls["chat"] == 4
    ex = report["examples"]
    assert [e["verdicts"]["judge_pass"] for e in ex] == [True, True, False, False]
    assert [e["verdicts"]["exact_match"] for e in ex] == [True, False, False, False]
    assert report["metric"] == "judge_pass" and report["metrics"]["judge_pass"]["value"] == 0.5
    b = report["breakdown"]
    assert (b["calls"], b["cached"], b["unreadable"]) == (4, 0, 1)
    assert b["agreement_with_exact_match"]["value"] == 0.75  # the judge accepts "It is Paris."
    assert b["agreement_table"]["judge pass, not exact"] == 1
    # gpt-4o-mini as a base model (catalog/inference_prices.toml): $0.15 / 1M prompt, $0.60 / 1M completion
    # tokens - not the $0.30 / $1.20 a fine-tune of it is served at
    from ftwizard.evaluation.judge import judge_messages

    msgs = judge_messages("Same city?", "Capital of France?", "Paris", "Paris")
    assert ex[0]["judge_tokens"] == list(_fake_tokens([m["content"] for m in msgs],
                                                      _judge_reply("", msgs)))
    expected = sum(e["judge_tokens"][0] * 0.15 / 1e6 + e["judge_tokens"][1] * 0.60 / 1e6 for e in ex)
    assert b["usd"] > 0 and math.isclose(b["usd"], expected)
    assert "GPT-4o mini" in b["price_source"] and "2024-07-18" in b["price_source"]

    again = score_file(f, "custom", metric="judge", judge_model="gpt-4o-mini", judge_rubric="Same city?")
    # every readable answer from the disk cache; the unreadable one ("I cannot tell.") is asked again
    assert judge_env.calls["chat"] == 5
    assert (again["breakdown"]["calls"], again["breakdown"]["cached"]) == (1, 3)
    assert again["metrics"] == report["metrics"]

    score_file(f, "custom", metric="judge", judge_model="gpt-4o-mini", judge_rubric="Same country?")
    assert judge_env.calls["chat"] == 9  # another rubric is another question


def test_judge_replies_are_read_strictly():
    from ftwizard.evaluation.judge import read_verdict

    assert read_verdict('{"pass": true, "reason": "same"}') == (True, "same")
    assert read_verdict('Sure: {"pass": false, "reason": "wrong city"} ok') == (False, "wrong city")
    assert read_verdict("PASS - same meaning")[0] is True and read_verdict("**Fail**: no")[0] is False
    assert read_verdict("This answer does not pass.")[0] is None  # neither: unreadable, counted as a fail
    assert read_verdict('{"pass": "yes"}')[0] is None


def test_judge_calls_run_several_at_once(judge_env, tmp_path):
    import threading
    import time

    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow_reply(model, messages):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return _judge_reply(model, messages)

    judge_env.chat_answer = slow_reply
    rows = [{"prediction": f"answer {i}", "reference": f"answer {i % 3}", "input": f"q{i}"} for i in range(12)]
    report = score_file(_write(tmp_path / "p.jsonl", rows), "custom", metric="judge", judge_model="gpt-4o-mini")
    assert judge_env.calls["chat"] == 12 and state["most"] > 1
    assert [e["verdicts"]["judge_pass"] for e in report["examples"]] == [i % 3 == i for i in range(12)]


def test_a_fine_tuned_judge_is_priced_at_its_serving_rates():
    from ftwizard.evaluation.judge import call_price

    usd, source = call_price("ft:gpt-4o-mini-2024-07-18:org::j1", 1_000_000, 1_000_000)
    assert math.isclose(usd, 0.30 + 1.20) and "fine-tuning" in source
    assert call_price("gpt-4.1-mini", 1_000_000, 0)[0] == 0.40
    assert call_price("ft:unknown-model:org::x", 10, 10)[0] is None


def test_judge_model_outside_the_catalog_is_unpriced(judge_env, tmp_path):
    f = _write(tmp_path / "p.jsonl", JUDGED[:2])
    b = score_file(f, "custom", metric="judge", judge_model="my-local-judge")["breakdown"]
    assert b["calls"] == 2 and b["usd"] is None and b["unpriced_calls"] == 2 and "unpriced" in b["price_source"]


def test_a_refused_judge_call_is_one_message_without_the_key(judge_env, monkeypatch, tmp_path):
    monkeypatch.setenv("FTWIZARD_JUDGE_API_KEY", "sk-wrong-SECRET-123")
    f = _write(tmp_path / "p.jsonl", JUDGED[:1])
    with pytest.raises(UsageError) as ei:
        score_file(f, "custom", metric="judge", judge_model="gpt-4o-mini")
    assert "the judge (gpt-4o-mini)" in str(ei.value) and "401" in str(ei.value)
    assert "SECRET" not in str(ei.value)


def test_judge_without_a_key_or_model_is_a_usage_error(monkeypatch, tmp_path):
    monkeypatch.delenv("FTWIZARD_JUDGE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("FTWIZARD_CACHE_DIR", str(tmp_path / "cache"))
    f = _write(tmp_path / "p.jsonl", JUDGED[:1])
    with pytest.raises(UsageError, match="FTWIZARD_JUDGE_API_KEY"):
        score_file(f, "custom", metric="judge", judge_model="gpt-4o-mini")
    with pytest.raises(UsageError, match="eval.judge_model"):
        score_file(f, "custom", metric="judge")


# ---------------------------------------------------------------------------------------------------------
# the CLI


def test_score_custom_choice_cli(tmp_path):
    f = _write(tmp_path / "p.jsonl", [{"prediction": p, "reference": r} for p, r in CHOICE])
    r = subprocess.run([sys.executable, "-m", "ftwizard", "score", "--task", "custom", "--metric", "choice", str(f),
                        "--json", "--per-example"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["metric"] == "accuracy" and report["metrics"]["accuracy"]["value"] == 0.5
    assert math.isclose(report["metrics"]["macro_f1"]["value"], 1.3 / 3)
    assert report["breakdown"]["confusion"]["counts"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    assert len(report["examples"]) == 6
    r = subprocess.run([sys.executable, "-m", "ftwizard", "score", "--task", "custom", "--metric", "choice", str(f),
                        "--per-example"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for expected in ("accuracy *", "macro_f1", "43.3%", "per class", "confusion", "outside the label set", "seed 0"):
        assert expected in r.stdout


def test_scoring_without_the_judge_stays_light(tmp_path):
    f = _write(tmp_path / "p.jsonl", [{"prediction": p, "reference": r} for p, r in CHOICE])
    code = ("import sys, io, contextlib\nfrom ftwizard.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = main(['score', '--task', 'custom', {str(f)!r}, '--json'])\n"
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'torch', 'transformers')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "0 []", r.stdout + r.stderr


def test_score_cli_names_a_mistyped_task_or_metric(tmp_path):
    f = _write(tmp_path / "p.jsonl", [{"prediction": "a", "reference": "a"}])
    for argv, expected in ((["--task", "custon"], "did you mean `custom`"),
                           (["--task", "custom", "--metric", "choise"], "did you mean `choice`"),
                           (["--task", "sql", "--metric", "choice"], "only for --task custom")):
        r = subprocess.run([sys.executable, "-m", "ftwizard", "score", *argv, str(f)], capture_output=True, text=True)
        assert r.returncode == 2 and expected in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------------------------------------------------
# the evaluator: a custom run's metrics.json follows its metric

TICKETS = [("my card was charged twice", "billing"), ("the app crashes on start", "bug"),
           ("refund please", "billing"), ("login button does nothing", "bug"),
           ("how do I export data", "question"), ("invoice shows the wrong VAT", "billing"),
           ("what formats do you support", "question"), ("sync fails with error 500", "bug")]


def _hosted_custom_run(tmp_path, fake, extra_eval=None):
    from ftwizard.recipe import validate_dict
    from ftwizard.runs.directory import RunDirectory

    data = tmp_path / "tickets.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in TICKETS))
    recipe = validate_dict({"name": "tickets", "task": "custom", "backend": "hosted",
                            "data": {"source": "files", "train": str(data), "eval": str(data)},
                            "prompt": {"template": "Ticket: {text}\nCategory: {label}\n", "answer_field": "label"},
                            "hosted": {"model": "gpt-4o-mini-2024-07-18"},
                            "eval": {"concurrency": 2, **(extra_eval or {})}})
    run = RunDirectory.create(tmp_path / "runs", "tickets", recipe.to_toml())
    model = "ft:gpt-4o-mini-2024-07-18:org::tickets"
    fake.chat_models.add(model)
    run.update_status(state="succeeded", backend="hosted", fine_tuned_model=model)
    return run


ANSWERS = {"my card was charged twice": "billing\n", "the app crashes on start": "bug",
           "refund please": " billing", "login button does nothing": "bug",
           "how do I export data": "Billing",  # wrong
           "invoice shows the wrong VAT": "tax",  # outside the label set
           "what formats do you support": "Billing", "sync fails with error 500": "bug"}


def _classifier(model, messages):
    if messages[0]["content"].startswith("You grade the answer"):
        return _judge_reply(model, messages)
    ticket = messages[-1]["content"].split("Ticket: ", 1)[1].split("\n", 1)[0]
    return ANSWERS[ticket]


@pytest.fixture
def hosted_fake(monkeypatch, tmp_path):
    fake = FakeOpenAI(chat_answer=_classifier).start()
    for var in ("OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID", "AZURE_OPENAI_ENDPOINT",
                "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION", "FTWIZARD_JUDGE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("FTWIZARD_JUDGE_BASE_URL", fake.url)
    monkeypatch.setenv("FTWIZARD_CACHE_DIR", str(tmp_path / "cache"))
    yield fake
    fake.stop()


def test_custom_eval_detects_choice_and_writes_its_breakdown(tmp_path, hosted_fake):
    from ftwizard.evaluation.runner import evaluate_run

    run = _hosted_custom_run(tmp_path, hosted_fake)
    section = evaluate_run(run)
    # predictions: billing bug billing bug Billing tax Billing bug -> right: 1 2 3 4 8 = 5 of 8
    assert section["primary_metric"] == "accuracy"
    assert section["metrics"]["accuracy"]["value"] == 5 / 8
    assert math.isclose(section["metrics"]["out_of_set"]["value"], 1 / 8)
    # billing: tp 2, predicted 4 (2 + the two "Billing" questions), support 3 -> P 1/2, R 2/3, F1 4/7
    # bug: tp 3, predicted 3, support 3 -> F1 1;  question: tp 0, predicted 0, support 2 -> F1 0
    assert math.isclose(section["metrics"]["macro_f1"]["value"], (4 / 7 + 1 + 0) / 3)
    stored = json.loads(run.metrics_path.read_text())
    assert stored["primary_metric"] == "accuracy" and stored["breakdown"]["kind"] == "choice"
    assert stored["breakdown"]["out_of_set"]["most_common"] == [["tax", 1]]
    assert "auto -> choice" in stored["breakdown"]["chosen"]
    preds = [json.loads(x) for x in run.predictions_path.read_text().splitlines()]
    assert [p["prediction"] for p in preds][:2] == ["billing", "bug"]


def test_custom_eval_with_the_judge_sees_the_prompt(tmp_path, hosted_fake):
    from ftwizard.evaluation.runner import evaluate_run

    run = _hosted_custom_run(tmp_path, hosted_fake, {"metric": "judge", "judge_model": "gpt-4o-mini",
                                                     "judge_rubric": "Is the category right?"})
    section = evaluate_run(run)
    assert section["primary_metric"] == "judge_pass"
    # the fake judge passes an answer holding every word of the reference ("Billing" for billing, too)
    assert [json.loads(x)["verdicts"]["judge_pass"] for x in run.predictions_path.read_text().splitlines()] == \
        [True, True, True, True, False, False, False, True]
    b = json.loads(run.metrics_path.read_text())["breakdown"]
    assert b["kind"] == "judge" and b["calls"] == 8 and b["usd"] > 0
    assert b["agreement_with_exact_match"]["value"] == 1.0  # here the judge and exact match agree on every answer
