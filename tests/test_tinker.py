"""The Tinker provider, driven through the real `tinker` SDK against a local fake of Tinker's HTTP API.

A whole run of recipes/viggo-tinker.toml (limited with overrides) trains for real steps (the fake's bigram
model learns from the token ids and weights sent), saves state, exports the PEFT adapter and is evaluated
through the OpenAI-compatible endpoint; a worker killed with SIGKILL is resumed from Tinker's saved state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftwizard.backends.hosted.tinker import TinkerProvider, training_plan
from ftwizard.errors import UsageError
from ftwizard.recipe import load_recipe
from ftwizard.runs.directory import FINAL_STATES, RunDirectory
from tests.fake_tinker import FakeTinkerServer, tiny_peft_adapter

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "viggo-tinker.toml"
KEY = "tml-fake-key-7f3a9c1e5b2d"
CHAT_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>\n{% endfor %}"
                 "{% if add_generation_prompt %}<s>assistant: {% endif %}")


@pytest.fixture(scope="module")
def chat_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with a chat template (the tokenizer renders Tinker's training data)."""
    d = tmp_path_factory.mktemp("tinker") / "tiny-chat"
    shutil.copytree(tiny_model_dir, d)
    cfg_path = d / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["chat_template"] = CHAT_TEMPLATE
    cfg_path.write_text(json.dumps(cfg))
    return d


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("TINKER_API_KEY", KEY)
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    monkeypatch.setenv("FTWIZARD_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def _answers() -> dict[str, str]:
    """The fake answers the first eval examples correctly (it only has to speak the API, not learn ViGGO)."""
    from ftwizard.tasks import get_task

    recipe = load_recipe(RECIPE, ["eval.limit=6"])
    task = get_task("viggo")
    rows = task.load_split(recipe, "eval").rows[:3]
    return {r["target"]: task.reference(r, recipe) for r in rows}


def _overrides(chat_model: Path, **extra) -> list[str]:
    base = {"model.base": str(chat_model), "data.limit_train": 24, "hosted.batch_size": 4, "hosted.epochs": 2,
            "hosted.learning_rate": 0.05, "hosted.lora_r": 8, "train.save_every": 2, "eval.limit": 6,
            "eval.concurrency": 2, "eval.max_new_tokens": 8}
    base.update(extra)
    return [f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in base.items()]


def _start(env, chat_model, **extra) -> tuple[RunDirectory, object]:
    recipe = load_recipe(RECIPE, _overrides(chat_model, **extra))
    provider = TinkerProvider()
    provider.preflight(recipe)
    run = RunDirectory.create(env / "runs", recipe.name, recipe.to_toml())
    provider.launch(run, recipe)
    return run, provider


def _wait(run: RunDirectory, until, timeout: float = 60.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = run.status()
        if until(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"timed out; status: {run.status()}\nworker.log:\n{(run.path / 'worker.log').read_text()}")


def _ended(status: dict) -> bool:
    return status.get("state") in FINAL_STATES


def _assert_no_key(run: RunDirectory, *texts: str) -> None:
    for p in run.path.rglob("*"):
        if p.is_file():
            assert KEY.encode() not in p.read_bytes(), p
    for t in texts:
        assert KEY not in t


def test_plan_follows_the_recipe(chat_model):
    recipe = load_recipe(RECIPE, _overrides(chat_model))
    plan = training_plan(recipe, 24)
    assert (plan.batch_size, plan.epochs, plan.steps_per_epoch, plan.total_steps, plan.rank) == (4, 2, 6, 12, 8)
    bundled = training_plan(load_recipe(RECIPE), 5103)
    assert (bundled.batch_size, bundled.epochs, bundled.total_steps, bundled.rank) == (128, 3, 120, 32)


def test_price_is_tokens_times_tinkers_training_rate():
    from ftwizard.catalog import get_hosted_model
    from ftwizard.pricing import hosted_training_cost

    recipe = load_recipe(RECIPE)
    p = TinkerProvider().price(recipe)
    assert p["provider"] == "tinker" and p["usd_per_1m"] == 0.44 and p["price_date"] == "2026-10"
    assert p["usd"] == pytest.approx(hosted_training_cost(get_hosted_model("Qwen/Qwen3-8B", provider="tinker"),
                                                      billed_tokens=p["billed_tokens"])["usd"])
    assert 2_000_000 < p["billed_tokens"] < 5_000_000 and p["epochs"] == 3


def test_preflight_names_the_key_variable_and_the_model(chat_model, monkeypatch):
    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    recipe = load_recipe(RECIPE, _overrides(chat_model, **{"hosted.model": "Qwen/Qwen3-9000B"}))
    with pytest.raises(UsageError) as e:
        TinkerProvider().preflight(recipe)
    text = str(e.value)
    assert "TINKER_API_KEY is not set" in text and "Qwen/Qwen3-9000B" in text


def _cli(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=timeout)


def _cli_env(tmp: Path, fake) -> dict:
    return {**os.environ, "TINKER_API_KEY": KEY, "TINKER_BASE_URL": fake.base_url, "TINKER_TELEMETRY": "0",
            "FTWIZARD_RUNS_DIR": str(tmp / "runs")}


def test_whole_run_succeeds_with_adapter_metrics_and_cost(env, chat_model):
    """`ftwizard run recipes/viggo-tinker.toml --set ...` through a 429 (Retry-After), a 503 and an optim_step
    whose answer is lost: every step is applied once, and the run ends with adapter, metrics and cost."""
    adapter = tiny_peft_adapter(chat_model, rank=8)
    with FakeTinkerServer(KEY, adapter_files=adapter, answers=_answers()) as fake:
        fake.fail_next("forward_backward", 429, retry_after=0.05)
        fake.fail_next("optim_step", 503)
        fake.drop_after("optim_step")  # acted on, answer lost: the SDK asks again with the same seq_id
        p = _cli("run", str(RECIPE), *[f"--set={o}" for o in _overrides(chat_model)], "--json",
                 env=_cli_env(env, fake))
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        run = RunDirectory(out["run_dir"])
        status = run.status()
        assert status["state"] == out["state"] == "succeeded", (run.path / "worker.log").read_text()
        assert fake.total_optim_steps() == 12  # every step once, despite the 429, the 503 and the lost answer
        assert fake.seen_keys == {KEY}
    metrics = [e for e in run.events(("metric",))]
    assert [e["step"] for e in metrics] == list(range(1, 13))
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    trained = sum(e["tokens"] for e in metrics)
    assert status["trained_tokens"] == trained and trained > 0
    cost = out["cost"]
    assert cost["training_kind"] == "actual" and cost["trained_tokens"] == trained
    assert cost["training_usd"] == pytest.approx(trained * 0.44 / 1e6, rel=1e-4)
    assert cost["price_date"] == "2026-10"
    answers = [json.loads(line) for line in run.predictions_path.read_text().splitlines()]
    sampled = sum(a["prompt_tokens"] * 0.195 + a["completion_tokens"] * 0.60 for a in answers) / 1e6
    assert cost["eval_usd"] == pytest.approx(sampled) and sampled > 0  # Tinker's sampling prices
    assert status["fine_tuned_model"].startswith("tinker://") and "/sampler_weights/" in status["fine_tuned_model"]
    assert status["tinker_state_step"] == 12
    from safetensors.numpy import load, load_file

    assert json.loads((run.adapter_dir / "adapter_config.json").read_text())["peft_type"] == "LORA"
    assert set(load_file(str(run.adapter_dir / "adapter_model.safetensors"))) == set(
        load(adapter["adapter_model.safetensors"]))
    m = out["metrics"]
    assert m["n"] == 6 and m["model"] == status["fine_tuned_model"]
    assert m["metrics"]["meaning_match"]["value"] == 0.5  # the fake answers 3 of the 6 right
    # Evaluation asks `/completions` with the prompt rendered here as training rendered it (never the chat route).
    assert {r["model"] for r in fake.completion_requests} == {status["fine_tuned_model"]}
    assert not fake.chat_requests and len(fake.completion_requests) == 6
    # The same weights at home: the downloaded PEFT adapter on model.base, scored on this machine.
    q = _cli("eval", str(run.path), "--local", "--json", env={**os.environ, "TINKER_API_KEY": KEY})
    assert q.returncode == 0, q.stderr
    local = json.loads(run.metrics_path.read_text())["local"]
    assert local["served"] == "local" and local["n"] == 6 and "meaning_match" in local["metrics"]
    assert (run.path / "predictions_local.jsonl").exists()
    _assert_no_key(run, p.stdout, p.stderr, q.stdout, q.stderr)


def test_a_failed_worker_resumes_from_the_saved_state_then_cancel_saves_it(env, chat_model):
    """A request Tinker refuses (400, not retried) stops the worker; `ftwizard run --resume` continues from the
    last state saved at Tinker (found by listing the run's checkpoints), not from scratch; `ftwizard cancel`
    then stops it with its state saved, and a cancelled run is not resumed."""
    with FakeTinkerServer(KEY) as fake:
        cli_env = _cli_env(env, fake)
        fake.fail_after("optim_step", after=5, status=400)  # step 6 refused
        p = _cli("run", str(RECIPE), *[f"--set={o}" for o in _overrides(chat_model, **{"eval.enabled": False})],
                 "--json", env=cli_env)
        out = json.loads(p.stdout)
        run = RunDirectory(out["run_dir"])
        failed = run.status()
        assert p.returncode == 1 and failed["state"] == "failed", (run.path / "worker.log").read_text()
        assert "400" in failed["error"] and "--resume" in json.dumps(run.events(("error",)))
        assert (failed["step"], failed["tinker_state_step"]) == (5, 4)
        fake.delay_s = 0.2  # slow steps: time to cancel mid-run
        p = _cli("run", "--resume", str(run.path), "--detach", env=cli_env)
        assert p.returncode == 0, p.stderr
        _wait(run, lambda s: (s.get("step") or 0) >= 6 and s.get("tinker_model_id") != failed["tinker_model_id"])
        p = _cli("cancel", str(run.path), env=cli_env)
        assert p.returncode == 0, p.stderr
        status = _wait(run, _ended)
        assert status["state"] == "cancelled", (run.path / "worker.log").read_text()
        stopped = status["step"]
        assert 6 <= stopped < 12 and status["tinker_state_step"] == stopped  # saved where it stopped
        resumed = fake.models[status["tinker_model_id"]]
        assert resumed.optim_steps == stopped - 4 and resumed.t == stopped  # continued from the state at 4
        assert fake.total_optim_steps() == 5 + (stopped - 4)
        p = _cli("run", "--resume", str(run.path), env=cli_env)
        assert p.returncode == 2 and "cancelled" in p.stderr
    _assert_no_key(run, p.stdout, p.stderr)


def test_kill_mid_run_then_resume_continues_from_the_saved_state(env, chat_model):
    with FakeTinkerServer(KEY, adapter_files=tiny_peft_adapter(chat_model, rank=8), delay_s=0.15) as fake:
        os.environ["TINKER_BASE_URL"] = fake.base_url
        try:
            run, provider = _start(env, chat_model, **{"eval.enabled": False})
            status = _wait(run, lambda s: (s.get("tinker_state_step") or 0) >= 4 or _ended(s))
            os.kill(status["pid"], signal.SIGKILL)
            _wait(run, lambda s: not provider.is_alive(run), timeout=10)
            killed = run.status()
            saved = max(int(ck["user_metadata"]["step"]) for ck in fake.checkpoints.values()
                        if ck["checkpoint_type"] == "training")
            done = killed["step"]
            assert 4 <= saved <= done < 12 and killed["state"] == "running"
            # As if the worker died between Tinker saving the state and status.json recording it: the resume
            # point is what the server lists for this run, not only what the run directory remembers.
            run.update_status(tinker_state_path=None, tinker_state_step=None)
            provider.resume(run)
            status = _wait(run, _ended)
        finally:
            del os.environ["TINKER_BASE_URL"]
        assert status["state"] == "succeeded", (run.path / "worker.log").read_text()
        # The resumed loop started at the saved step: only the steps after it (lost with the killed worker's
        # session) were trained twice; nothing before the saved state was.
        assert fake.total_optim_steps() == 12 + (done - saved)
        assert len(status["tinker_training_runs"]) == 2
        resumed = fake.models[status["tinker_training_runs"][1]]
        assert resumed.t == 12 and resumed.optim_steps == 12 - saved
    steps = [e["step"] for e in run.events(("metric",))]
    assert steps == list(range(1, done + 1)) + list(range(saved + 1, 13))
    cost = json.loads(run.cost_path.read_text())
    assert cost["trained_tokens"] == sum(e["tokens"] for e in run.events(("metric",)))  # what Tinker billed
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    _assert_no_key(run)


def test_without_the_extra_the_message_names_the_pip_command(tmp_path, chat_model):
    """The SDK hidden from a subprocess (`sys.modules['tinker'] = None`: import and find_spec both fail, as
    when it is not installed): `ftwizard run` refuses before creating anything and names the extra."""
    code = (
        "import sys\n"
        "sys.modules['tinker'] = None\n"
        "from ftwizard.cli.main import entry\n"
        "sys.argv = ['ftwizard', 'run', sys.argv[1]] + sys.argv[2:]\n"
        "entry()\n"
    )
    env = {**os.environ, "TINKER_API_KEY": KEY, "FTWIZARD_RUNS_DIR": str(tmp_path / "runs")}
    p = subprocess.run([sys.executable, "-c", code, str(RECIPE), *[f"--set={o}" for o in _overrides(chat_model)]],
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "pip install 'ftwizard[tinker]'" in p.stderr
    assert KEY not in p.stdout + p.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _loop(env, chat_model, fake, **extra):
    """A Tinker loop on a run directory (data rendered), talking to the fake through the real SDK."""
    from ftwizard.backends.hosted.tinker_worker import TinkerLoop
    from ftwizard.prepare import render_chat_files

    os.environ["TINKER_BASE_URL"] = fake.base_url
    recipe = load_recipe(RECIPE, _overrides(chat_model, **extra))
    run = RunDirectory.create(env / "runs", recipe.name, recipe.to_toml())
    render_chat_files(recipe, run.data_dir)
    return TinkerLoop(run, recipe)


def test_evaluation_prompts_are_exactly_the_trained_prompt_text(env, chat_model):
    """Evaluated on the examples it trained on: each `/completions` prompt is the start of a text sent through
    forward_backward (decoded from the tokens the fake received), ending where the learned answer begins (within
    the token that merges the template's trailing space into the answer) - the same text on the same template,
    so train and serve cannot differ."""
    from transformers import AutoTokenizer

    with FakeTinkerServer(KEY, adapter_files=tiny_peft_adapter(chat_model, rank=8)) as fake:
        p = _cli("run", str(RECIPE), *[f"--set={o}" for o in _overrides(chat_model, **{"data.eval": "train",
                                                                                         "train.max_length": 1024})],
                 "--json", env=_cli_env(env, fake))
        assert p.returncode == 0, p.stderr
    tok = AutoTokenizer.from_pretrained(chat_model)
    trained = [(tok.decode(full), full, w) for full, w in fake.trained]
    assert len(fake.completion_requests) == 6 and not fake.chat_requests
    for req in fake.completion_requests:
        prompt = req["prompt"]
        matches = [(full, w) for text, full, w in trained if text.startswith(prompt)]
        assert matches, prompt
        for full, w in matches:
            k = w.index(1.0)  # the first learned token
            assert len(tok.decode(full[:k])) <= len(prompt) <= len(tok.decode(full[:k + 1]))


def test_every_save_has_a_name_of_its_own_and_tinker_refuses_a_reused_one(env, chat_model):
    """A stop right at a save step saves the same step twice: each save gets its own name, since Tinker keeps
    names (`save_state` defaults to overwrite=False and the service refuses an existing name)."""
    import tinker

    with FakeTinkerServer(KEY) as fake:
        try:
            loop = _loop(env, chat_model, fake)
            service = tinker.ServiceClient()
            loop.tc = service.create_lora_training_client(base_model="Qwen/Qwen3-8B", rank=8).result()
            first, second = loop._save_state(2, 10), loop._save_state(2, 10)
            assert first != second and {first, second} <= set(fake.checkpoints)
            with pytest.raises(tinker.TinkerError, match="already exists"):
                loop.tc.save_state(first.rsplit("/", 1)[1]).result()
            assert loop.run.status()["tinker_state_path"] == second
        finally:
            del os.environ["TINKER_BASE_URL"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:application/json,%7B%7D", "ftp://example.com/a",
                                 "http://example.com/adapter_config.json"])
def test_the_adapter_is_fetched_only_from_https_or_the_configured_endpoint(env, chat_model, url):
    import tinker

    from ftwizard.backends.hosted.providers import HostedError

    with FakeTinkerServer(KEY, adapter_files=tiny_peft_adapter(chat_model, rank=8)) as fake:
        try:
            loop = _loop(env, chat_model, fake)
            service, rest = tinker.ServiceClient(), tinker.RestClient(base_url=fake.base_url)
            tc = service.create_lora_training_client(base_model="Qwen/Qwen3-8B", rank=8).result()
            fake.url_override = url
            with pytest.raises(HostedError, match="only https URLs"):
                loop._download_adapter(tc, rest)
            assert not loop.run.adapter_dir.exists() and not (loop.run.path / ".adapter.partial").exists()
            fake.url_override = None  # the configured endpoint itself (http on 127.0.0.1 here) is accepted
            loop._download_adapter(tc, rest)
            assert (loop.run.adapter_dir / "adapter_config.json").exists()
        finally:
            del os.environ["TINKER_BASE_URL"]


def test_an_adapter_file_cut_short_is_fetched_again_and_no_half_file_is_left(env, chat_model, monkeypatch):
    import tinker

    monkeypatch.setenv("FTWIZARD_HOSTED_RETRY_BASE_SECONDS", "0.01")
    adapter = tiny_peft_adapter(chat_model, rank=8)
    with FakeTinkerServer(KEY, adapter_files=adapter) as fake:
        try:
            loop = _loop(env, chat_model, fake)
            service, rest = tinker.ServiceClient(), tinker.RestClient(base_url=fake.base_url)
            tc = service.create_lora_training_client(base_model="Qwen/Qwen3-8B", rank=8).result()
            fake.cut_downloads = 1
            loop._download_adapter(tc, rest)
        finally:
            del os.environ["TINKER_BASE_URL"]
    assert fake.calls["files"] == len(adapter) + 1  # one file twice
    for name, data in adapter.items():
        assert (loop.run.adapter_dir / name).read_bytes() == data
    assert not list(loop.run.path.rglob("*.partial")) and not (loop.run.path / ".adapter.partial").exists()
    assert any("retry 1" in e["text"] for e in loop.run.events(("log",)))
