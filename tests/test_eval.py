"""Evaluation end to end: batched generation on a real tiny model, evaluate_run (local and hosted), resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ftwizard.errors import RunFailed
from ftwizard.recipe import validate_dict
from ftwizard.runs.directory import RunDirectory
from tests.fake_openai import DEFAULT_KEY, FakeOpenAI


@pytest.fixture(scope="module")
def lively(tiny_model_dir):
    """The tiny model with larger random weights, so every prompt gets a different continuation."""
    from tests.tinymodel import load_lively

    return load_lively(tiny_model_dir)


def _prompts(n=12):
    from ftwizard.tasks import get_task

    recipe = validate_dict({"name": "x", "task": "sql", "data": {"eval": "val"}})
    task = get_task("sql")
    tpl = task.templates(recipe)
    return [tpl.render_prompt(r) for r in task.load_split(recipe, "eval").rows[:n]]


def test_batched_generation_equals_one_by_one(lively):
    from ftwizard.evaluation.generate import generate

    model, tok = lively
    prompts = _prompts(12)
    batched = generate(model, tok, prompts, max_new_tokens=12, batch_size=5)
    single = generate(model, tok, prompts, max_new_tokens=12, batch_size=1)
    assert [g.text for g in batched] == [g.text for g in single]
    assert len({g.text for g in batched}) == len(prompts)  # really different continuations
    assert [g.index for g in batched] == list(range(12))
    assert all(g.completion_tokens == 12 for g in batched)
    assert [g.prompt_tokens for g in batched] == [len(tok(p)["input_ids"]) for p in prompts]
    assert tok.padding_side == "right"  # left padding only while generating


def test_stop_rule_ends_each_sequence_on_its_own(lively):
    from ftwizard.evaluation.generate import generate

    model, tok = lively
    prompts = _prompts(6)
    full = generate(model, tok, prompts, max_new_tokens=16, batch_size=6)
    cut = generate(model, tok, prompts, max_new_tokens=16, batch_size=6, stop_when=lambda t: len(t) >= 10)
    for f, c in zip(full, cut):
        assert len(c.text) >= 10 or c.completion_tokens == 16
        assert f.text.startswith(c.text)  # same greedy path, stopped early
        assert c.completion_tokens < 16 or len(f.text) < 10
    assert sum(c.completion_tokens for c in cut) < sum(f.completion_tokens for f in full)


def _local_run(tmp_path, tiny_model_dir, *, task="viggo", limit=10, batch=4, adapter=True) -> RunDirectory:
    recipe = validate_dict({"name": "evaltest", "task": task, "model": {"base": str(tiny_model_dir)},
                            "data": {"eval": "val" if task == "sql" else "test"},
                            "hardware": {"device": "cpu"},
                            "eval": {"limit": limit, "batch_size": batch, "max_new_tokens": 8}})
    run = RunDirectory.create(tmp_path / "runs", "evaltest", recipe.to_toml())
    if adapter:
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
        peft_model.save_pretrained(run.adapter_dir)
    return run


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_local_eval_and_baseline_write_predictions_metrics_events(tmp_path, tiny_model_dir):
    from ftwizard.evaluation.runner import evaluate_run

    run = _local_run(tmp_path, tiny_model_dir, task="sql", limit=6)
    section = evaluate_run(run)
    assert section["n"] == 6 and set(section["metrics"]) == {"exact_match", "normalized_match", "execution_match"}
    preds = _lines(run.predictions_path)
    assert [p["index"] for p in preds] == list(range(6))
    first = preds[0]
    for key in ("input", "raw", "prediction", "reference", "context", "verdicts", "latency_s", "prompt_tokens",
                "completion_tokens"):
        assert key in first
    assert first["input"].endswith("### Response:\n")
    assert first["reference"] == "SELECT count(*) FROM singer"
    assert set(first["verdicts"]) == {"exact_match", "normalized_match", "execution_match"}
    # LoRA with random (non-zero) weights changes the model: the baseline is the base without it.
    base = evaluate_run(run, baseline=True)
    bpreds = _lines(run.path / "predictions_baseline.jsonl")
    assert [b["raw"] for b in bpreds] != [p["raw"] for p in preds]
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["task"] == "sql" and metrics["n"] == 6 and metrics["baseline"]["metrics"] == base["metrics"]
    for m in metrics["metrics"].values():
        assert set(m) == {"n", "value", "ci_low", "ci_high"} and m["n"] == 6
    evs = run.events(("eval",))
    assert [e["phase"] for e in evs if e["which"] == "finetuned"][0] == "start"
    done = [e for e in evs if e["phase"] == "done"]
    assert [e["which"] for e in done] == ["finetuned", "baseline"]
    assert done[0]["total"] == 6 and "execution_match" in done[0]
    # Re-running the fine-tuned evaluation keeps the baseline and generates nothing new.
    before = run.predictions_path.read_text()
    evaluate_run(run)
    assert run.predictions_path.read_text() == before
    assert "baseline" in json.loads(run.metrics_path.read_text())


def test_passed_peft_model_baseline_disables_the_adapter(tmp_path, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftwizard.evaluation.runner import evaluate_run

    run = _local_run(tmp_path, tiny_model_dir, limit=4)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(run.adapter_dir))
    evaluate_run(run, model=model, tokenizer=tok)
    evaluate_run(run, baseline=True, model=model, tokenizer=tok)
    fresh = _local_run(tmp_path / "b", tiny_model_dir, limit=4, adapter=False)
    evaluate_run(fresh, baseline=True)  # the base model loaded from model.base
    raw = lambda p: [r["raw"] for r in _lines(p)]  # noqa: E731
    assert raw(run.path / "predictions_baseline.jsonl") == raw(fresh.path / "predictions_baseline.jsonl")
    assert raw(run.predictions_path) != raw(run.path / "predictions_baseline.jsonl")


def test_no_adapter_is_a_clear_failure(tmp_path, tiny_model_dir):
    from ftwizard.evaluation.runner import evaluate_run

    run = _local_run(tmp_path, tiny_model_dir, limit=2, adapter=False)
    with pytest.raises(RunFailed, match="no trained adapter"):
        evaluate_run(run)


def test_killed_eval_resumes_at_the_first_missing_index(tmp_path, tiny_model_dir):
    run = _local_run(tmp_path, tiny_model_dir, limit=16, batch=1)
    env = {**os.environ, "PYTHONPATH": str(os.getcwd()), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ftwizard", "eval", str(run.path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if run.predictions_path.exists() and len(run.predictions_path.read_text().splitlines()) >= 2:
                break
            if proc.poll() is not None:
                pytest.fail("the evaluation finished before it could be killed")
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    kept = _lines(run.predictions_path)
    assert 2 <= len(kept) < 16
    with open(run.predictions_path, "a") as f:
        f.write('{"index": 15, "raw": "torn')  # a line cut by the kill
    from ftwizard.evaluation.runner import evaluate_run

    section = evaluate_run(run)
    assert section["n"] == 16
    final = _lines(run.predictions_path)
    assert [r["index"] for r in final] == list(range(16))
    by_index = {r["index"]: r for r in final}
    assert all(by_index[r["index"]] == r for r in kept)  # what was done before the kill is kept as it was
    starts = [e for e in run.events(("eval",)) if e["phase"] == "start"]
    assert starts[-1]["done"] == len(kept)


# ------------------------------------------------------------------------------------------------------
# Hosted: the real openai SDK against a local server

@pytest.fixture
def fake(monkeypatch):
    gold = {}

    def answer(model, messages):
        text = messages[-1]["content"]
        if model.startswith("ft:"):
            return gold.get(text, "SELECT 1")
        return "Sure! Here is the query:\n```sql\nSELECT * FROM nowhere\n```"

    server = FakeOpenAI(chat_answer=answer).start()
    server.gold = gold
    for var in ("OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID", "AZURE_OPENAI_ENDPOINT",
                "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    yield server
    server.stop()


def _hosted_run(tmp_path, fake, limit=8) -> RunDirectory:
    from ftwizard.tasks import get_task

    recipe = validate_dict({"name": "hosted", "task": "sql", "backend": "hosted", "data": {"eval": "val"},
                            "hosted": {"model": "gpt-4o-mini-2024-07-18"}, "eval": {"limit": limit, "concurrency": 3}})
    run = RunDirectory.create(tmp_path / "runs", "hosted", recipe.to_toml())
    model = "ft:gpt-4o-mini-2024-07-18:org::abc123"
    fake.chat_models.add(model)
    run.update_status(state="succeeded", backend="hosted", fine_tuned_model=model)
    import sqlglot

    rows = get_task("sql").load_split(recipe, "eval").rows[:limit]
    for i, r in enumerate(rows):  # the fine-tuned model knows the first half, spelled otherwise
        if i < limit // 2:
            fake.gold[r["question"]] = sqlglot.transpile(r["answer"], read="mysql", write="sqlite")[0]
    return run


def test_hosted_eval_scores_costs_and_never_repeats_paid_calls(tmp_path, fake):
    from ftwizard.evaluation.runner import evaluate_run

    run = _hosted_run(tmp_path, fake)
    # Two items fail for good (400 is not retried): the rest are kept, the run asks to be run again.
    fake.fail("chat", (400, "bad_request", "nope"), (400, "bad_request", "nope"))
    with pytest.raises(RunFailed, match="missing 2 of 8"):
        evaluate_run(run)
    assert len(_lines(run.predictions_path)) == 6
    calls_before = fake.calls["chat"]
    section = evaluate_run(run)
    assert fake.calls["chat"] - calls_before == 2  # only the two missing answers were requested again
    m = section["metrics"]
    assert m["exact_match"]["value"] == 0.0  # spelled otherwise: not the seed's exact match ...
    assert m["normalized_match"]["value"] == 0.5 and m["execution_match"]["value"] == 0.5  # ... but equivalent
    preds = _lines(run.predictions_path)
    assert all(p["prompt_tokens"] > 0 and p["completion_tokens"] > 0 and p["usd"] > 0 for p in preds)
    cost = json.loads(run.cost_path.read_text())
    assert cost["eval_usd"] == pytest.approx(sum(p["usd"] for p in preds), rel=1e-6)
    # gpt-4o-mini fine-tuned serving: $0.30 / $1.20 per 1M
    expected = sum(p["prompt_tokens"] * 0.30 + p["completion_tokens"] * 1.20 for p in preds) / 1e6
    assert cost["eval_usd"] == pytest.approx(expected, rel=1e-6)
    assert DEFAULT_KEY not in run.predictions_path.read_text() + run.events_path.read_text()


def test_hosted_baseline_shows_its_cost_first(tmp_path, fake):
    from ftwizard.evaluation.runner import evaluate_run

    run = _hosted_run(tmp_path, fake, limit=4)
    seen = []
    with pytest.raises(RunFailed, match="declined"):
        evaluate_run(run, baseline=True, confirm_cost=lambda est: seen.append(est) or False)
    assert fake.calls["chat"] == 0 and seen and seen[0]["usd"] > 0 and seen[0]["model"] == "gpt-4o-mini-2024-07-18"
    section = evaluate_run(run, baseline=True, confirm_cost=lambda est: True)
    assert fake.calls["chat"] == 4
    assert section["metrics"]["execution_match"]["value"] == 0.0
    assert _lines(run.path / "predictions_baseline.jsonl")[0]["prediction"] == "SELECT * FROM nowhere"
    assert [e["kind"] for e in run.events(("cost",))] == ["estimated", "estimated"]
    assert json.loads(run.cost_path.read_text())["eval_baseline_usd"] > 0


def test_eval_cli(tmp_path, fake):
    run = _hosted_run(tmp_path, fake, limit=4)
    env = {**os.environ, "PYTHONPATH": str(os.getcwd())}
    r = subprocess.run([sys.executable, "-m", "ftwizard", "eval", str(run.path), "--json"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["normalized_match"]["value"] == 0.5
    assert "eval (finetuned)" in r.stderr
    r = subprocess.run([sys.executable, "-m", "ftwizard", "eval", str(run.path), "--baseline"], capture_output=True,
                       text=True, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "--yes" in r.stderr and "estimated $" in r.stderr
    r = subprocess.run([sys.executable, "-m", "ftwizard", "eval", str(run.path), "--baseline", "--yes"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "baseline" in r.stdout and "execution_match" in r.stdout
    r = subprocess.run([sys.executable, "-m", "ftwizard", "eval", str(run.path)], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "gain" in r.stdout  # the fine-tuned table shows the baseline and the gain
    r = subprocess.run([sys.executable, "-m", "ftwizard", "eval", str(tmp_path / "nope")], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_an_unknown_models_evaluation_is_unpriced_not_free(tmp_path, fake):
    """A model the catalog does not list: each answer and the run's eval cost are None (unpriced), never $0."""
    from ftwizard.backends.hosted import generator
    from ftwizard.evaluation import runner

    run = _hosted_run(tmp_path, fake, limit=4)
    assert generator._usd(None, 1000, 100) is None
    est = generator.estimate_hosted_cost(run.recipe(), "acme-unlisted-model", [[{"role": "user", "content": "hi"}]],
                                      ["SELECT 1"])
    assert est["usd"] is None
    fake.chat_models.add("ft:acme-unlisted-model:x")
    run.update_status(fine_tuned_model="ft:acme-unlisted-model:x")
    recipe_text = run.recipe_path.read_text().replace("gpt-4o-mini-2024-07-18", "acme-unlisted-model")
    run.recipe_path.write_text(recipe_text)
    runner.evaluate_run(run)
    preds = _lines(run.predictions_path)
    assert preds and all(p["usd"] is None for p in preds)
    cost = json.loads(run.cost_path.read_text())
    assert cost["eval_usd"] is None and cost["eval_unpriced"] == len(preds)
