"""The OpenAI / Azure providers against a fake OpenAI server on 127.0.0.1 (real sockets, the real openai SDK).

In every case exactly one job is created (or none, when the provider refuses), ids are recorded as they
appear, and no API key reaches the run directory or the output.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from pathlib import Path

import pytest

from ftwizard.cli import output
from ftwizard.cli.main import main
from ftwizard.errors import UsageError
from ftwizard.runs.directory import RunDirectory
from tests import hosted_helpers
from tests.fake_openai import DEFAULT_KEY, FakeOpenAI
from tests.hosted_helpers import hosted_env, lose_the_create_answer, metric_steps, start_held_run, work

REPO = Path(__file__).resolve().parent.parent
SQL_RECIPE = REPO / "recipes" / "sql-gpt35.toml"
# gpt-3.5-turbo was shut down on 2026-10-23: the seed recipe runs here on a model OpenAI still trains.
MODEL = ["hosted.model=gpt-4o-mini-2024-07-18"]
SMALL = MODEL + ["data.limit_train=30", "data.limit_eval=12", "eval.enabled=false"]


@pytest.fixture
def fake(monkeypatch):
    server = FakeOpenAI().start()
    for var in ("OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID", "AZURE_OPENAI_ENDPOINT",
                "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    hosted_env(monkeypatch, OPENAI_API_KEY=DEFAULT_KEY, OPENAI_BASE_URL=server.url)
    yield server
    server.stop()
    output.reset()


def make_run(tmp_path: Path, overrides: list[str] = SMALL, recipe_path: Path = SQL_RECIPE) -> RunDirectory:
    return hosted_helpers.make_run(tmp_path, overrides, recipe_path)


assert_no_secret = functools.partial(hosted_helpers.assert_no_secret, key=DEFAULT_KEY)


# ---------------------------------------------------------------------------------------------------

def test_sql_gpt35_recipe_runs_to_success_through_the_cli(fake, tmp_path, capfd):
    fake.events_page_size = 3  # the follower must page through has_more/after
    code = main(["run", str(SQL_RECIPE), "--runs-dir", str(tmp_path / "runs"), "--set", "eval.enabled=false",
                 "--set", MODEL[0]])
    cap = capfd.readouterr()
    assert code == 0, cap.err
    (run_path,) = (tmp_path / "runs").iterdir()
    run = RunDirectory(run_path)
    st = run.status()
    assert st["state"] == "succeeded"
    assert fake.job_creates == 1 and fake.calls["jobs.create"] == 1
    job = next(iter(fake.jobs.values()))
    assert st["job_id"] == job["id"]
    assert st["training_file_id"] == job["training_file"] and st["validation_file_id"] == job["validation_file"]
    assert st["fine_tuned_model"] == job["fine_tuned_model"] and st["fine_tuned_model"].startswith("ft:gpt-4o-mini")
    assert st["trained_tokens"] == job["trained_tokens"] > 0
    assert st["provider"] == "openai" and st["job_status"] == "succeeded"
    # The training file holds the whole split, rendered from the seed's chat templates.
    lines = fake.files[job["training_file"]]["_content"].decode().splitlines()
    assert len(lines) == 3961
    assert [m["role"] for m in json.loads(lines[0])["messages"]] == ["system", "user", "assistant"]
    cost = json.loads(run.cost_path.read_text())
    assert cost["training_kind"] == "actual"
    assert cost["training_usd"] == pytest.approx(job["trained_tokens"] * 3.0 / 1e6, abs=1e-4)
    assert cost["estimated_training_usd"] > 0 and cost["training_usd_source"] == "catalog rate x trained tokens"
    assert cost["trained_tokens"] == job["trained_tokens"] and cost["price_date"]
    # Metric events: every step once, in order, with train/valid loss and token accuracy.
    metrics = run.events(("metric",))
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert all({"loss", "eval_loss", "train_mean_token_accuracy", "valid_mean_token_accuracy", "max_steps"} <= set(m)
               for m in metrics)
    assert any("estimated_finish" in e for e in run.events(("status", "metric")))
    kinds = [(e["kind"], e["what"]) for e in run.events(("cost",))]
    assert ("estimated", "training") in kinds and ("actual", "training") in kinds
    assert (run.path / "hosted_results.csv").read_text().startswith("step,train_loss")
    assert "run succeeded" in cap.err
    assert_no_secret(run, cap.out, cap.err)


def test_429_then_success_creates_one_job(fake, tmp_path):
    fake.fail("jobs.create", 429).fail("files.create", 429)
    run = make_run(tmp_path)
    assert work(run) == 0
    assert fake.job_creates == 1
    assert run.state == "succeeded"
    assert any("429" in e["text"] and "retry" in e["text"] for e in run.events(("log",)))


def test_burst_of_500s_everywhere_still_one_job(fake, tmp_path):
    fake.fail("files.create", 500, 502).fail("jobs.create", 500, 500, 503).fail("jobs.retrieve", 500, 500, 500)
    fake.fail("jobs.events", 500, 500)
    run = make_run(tmp_path)
    assert work(run) == 0
    assert fake.job_creates == 1
    assert fake.calls["jobs.create"] == 4
    assert run.status()["fine_tuned_model"]
    assert metric_steps(run) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("mode", ["lost", "slow", "error-after"])
def test_create_whose_answer_is_lost_is_checked_not_repeated(fake, tmp_path, monkeypatch, mode):
    """The job is created but the client never hears of it: it lists jobs and adopts it."""
    lose_the_create_answer(fake, monkeypatch, mode)
    run = make_run(tmp_path)
    assert work(run) == 0
    assert fake.job_creates == 1 and fake.calls["jobs.create"] == 1
    st = run.status()
    job = fake.jobs[st["job_id"]]
    assert job["metadata"] == {"ftwizard_run": st["create_marker"]}
    assert any("answer was lost" in e["text"] for e in run.events(("log",)))
    assert st["state"] == "succeeded"


def test_lost_upload_is_found_not_uploaded_twice(fake, tmp_path):
    fake.fail("files.create", "lost")
    run = make_run(tmp_path)
    assert work(run) == 0
    training = [f for f in fake.files.values() if f["purpose"] == "fine-tune"]
    assert len(training) == 2  # train + validation, each once
    assert fake.job_creates == 1


def test_403_training_not_available_explains_the_wind_down(fake, tmp_path, capfd):
    fake.fail("jobs.create", (403, "training_not_available",
                              "Fine-tuning job creation is not available for this organization."))
    code = main(["run", str(SQL_RECIPE), "--runs-dir", str(tmp_path / "runs")] + sum((["--set", s] for s in SMALL), []))
    cap = capfd.readouterr()
    assert code == 1
    assert fake.job_creates == 0 and fake.calls["jobs.create"] == 1  # a refusal is not retried
    (run_path,) = (tmp_path / "runs").iterdir()
    run = RunDirectory(run_path)
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "wind_down"
    (err,) = run.events(("error",))
    text = err["message"] + "\n".join(err["advice"])
    for needle in ("training_not_available", "2026-05-07", "2026-07-02", "2027-01-06", "Azure OpenAI",
                   "import-openai-job", "backend=local", "sql-codellama34b-lora.toml"):
        assert needle in text
    assert "2027-01-06" in cap.err  # the follower shows the advice on the terminal
    assert_no_secret(run, cap.out, cap.err)


@pytest.mark.parametrize("code,message,kind", [
    ("model_not_available", "Model gpt-4o-mini-2024-07-18 is not available for fine-tuning.", "model"),
    ("insufficient_quota", "You exceeded your current quota.", "quota"),
])
def test_other_refusals_end_with_a_clear_message(fake, tmp_path, code, message, kind):
    fake.fail("jobs.create", (429 if kind == "quota" else 400, code, message))
    run = make_run(tmp_path)
    assert work(run) == 1
    assert fake.job_creates == 0 and fake.calls["jobs.create"] == 1
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == kind
    assert message in st["error"]


def test_invalid_chat_file_is_refused_before_anything_is_uploaded(fake, tmp_path, capfd):
    with pytest.raises(UsageError) as e:
        main(["run", str(SQL_RECIPE), "--runs-dir", str(tmp_path / "runs"), "--set", "prompt.assistant=",
              "--set", "data.limit_train=30", "--set", MODEL[0]])
    assert e.value.exit_code == 2
    text = str(e.value)
    assert "train chat file (openai_train.jsonl): line 1: message 3 (assistant) has empty `content`" in text
    assert "30 format errors in all: missing_content 30" in text
    assert fake.requests == [] and not (tmp_path / "runs").exists()


def test_file_rejected_by_the_provider_fails_the_run(fake, tmp_path):
    fake.outcome = "invalid_file"
    run = make_run(tmp_path)
    assert work(run) == 1
    assert fake.job_creates == 1
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "data" and "invalid_training_file" in st["error"]


def test_job_that_fails_records_its_error(fake, tmp_path):
    fake.outcome = "failed"
    fake.error = {"code": "server_error", "message": "The job failed due to an internal error.", "param": None}
    run = make_run(tmp_path)
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and "internal error" in st["error"] and st["job_status"] == "failed"
    assert fake.job_creates == 1
    assert metric_steps(run) == [1, 2, 3, 4]  # the metrics that came before the failure


def test_event_pagination_records_every_event_once_in_order(fake, tmp_path):
    fake.steps, fake.steps_per_tick, fake.events_page_size = 40, 13, 4
    run = make_run(tmp_path)
    assert work(run) == 0
    assert metric_steps(run) == list(range(1, 41))
    provider_ids = [e["event_id"] for e in run.events(("log", "metric")) if e.get("event_id")]
    job_id = run.status()["job_id"]
    assert len(provider_ids) == len(set(provider_ids)) == len(fake.events[job_id])
    assert provider_ids == [e["id"] for e in fake.events[job_id]]


def test_resume_refollows_the_same_job(fake, tmp_path):
    run = start_held_run(fake, tmp_path, SQL_RECIPE, SMALL)
    os.kill(run.status()["pid"], signal.SIGKILL)  # the worker we started dies; the job goes on
    time.sleep(0.2)
    fake.hold_running = False
    assert main(["run", "--resume", str(run.path)]) == 0
    assert run.state == "succeeded"
    assert fake.job_creates == 1 and fake.calls["jobs.create"] == 1
    assert fake.calls["files.create"] == 2
    assert metric_steps(run) == [1, 2, 3, 4, 5, 6]


def test_resume_after_a_crash_mid_create_adopts_the_job(fake, tmp_path):
    """The worker died after sending the create, before recording the id: the next one must look first."""
    from ftwizard.backends.hosted.job import OpenAIJob
    from ftwizard.backends.hosted.providers import config_for_recipe

    run = make_run(tmp_path)
    recipe = run.recipe()
    cfg = config_for_recipe(recipe)
    client = cfg.make_client()
    hj = OpenAIJob(run, recipe, client, cfg)
    paths = hj.ensure_files()
    train = hj.ensure_uploaded("train", paths["train"])
    run.update_status(create_marker="m-123", create_attempts=1, create_first_attempt_at=time.time())
    client.fine_tuning.jobs.create(**hj.create_params(train, None, "m-123"))  # what the dead worker sent
    assert work(run) == 0
    assert fake.job_creates == 1 and fake.calls["jobs.create"] == 1
    assert any("earlier attempt" in e["text"] for e in run.events(("log",)))


def test_cancel_cancels_the_job(fake, tmp_path):
    run = start_held_run(fake, tmp_path, SQL_RECIPE, SMALL)
    deadline = time.time() + 30
    assert main(["cancel", str(run.path)]) == 0
    while run.state != "cancelled":
        assert time.time() < deadline, run.status()
        time.sleep(0.05)
    assert fake.jobs[run.status()["job_id"]]["status"] == "cancelled"
    assert fake.job_creates == 1


def test_key_echoed_in_an_error_is_redacted(fake, tmp_path, monkeypatch, capfd):
    wrong = "sk-wrong-KEY-abcdefghijklmnop123"
    run = make_run(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", wrong)  # the fake answers 401 quoting the key it was given
    assert work(run) == 1
    cap = capfd.readouterr()
    st = run.status()
    assert st["error_kind"] == "auth" and "OPENAI_API_KEY" in st["error"]
    assert_no_secret(run, cap.out, cap.err, key=wrong)
    assert_no_secret(run, key=DEFAULT_KEY)


def test_missing_keys_are_named_not_shown(monkeypatch):
    from ftwizard.backends import backend_for
    from ftwizard.recipe import load_recipe

    def preflight(overrides):
        recipe = load_recipe(SQL_RECIPE, overrides)
        backend_for(recipe).preflight(recipe)

    monkeypatch.setenv("FTWIZARD_AS_OF", "2026-12-01")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="OPENAI_API_KEY is not set"):
        preflight(SMALL)
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "secret-azure-key-1234")
    with pytest.raises(UsageError) as e:
        preflight(SMALL + ["hosted.provider=azure"])
    assert "AZURE_OPENAI_ENDPOINT" in str(e.value) and "secret-azure-key-1234" not in str(e.value)


def test_azure_openai_runs_a_job(fake, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", DEFAULT_KEY)
    run = make_run(tmp_path, SMALL + ["hosted.provider=azure", "hosted.epochs=2"])
    assert work(run) == 0
    st = run.status()
    assert st["provider"] == "azure" and st["state"] == "succeeded"
    job = fake.jobs[st["job_id"]]
    assert job["hyperparameters"]["n_epochs"] == 2
    assert any(path.startswith("/fine_tuning/jobs") for _, path in fake.requests)
    assert_no_secret(run)


def test_result_file_in_base64_is_decoded(fake, tmp_path):
    fake.result_base64 = True
    run = make_run(tmp_path)
    assert work(run) == 0
    text = (run.path / "hosted_results.csv").read_text()
    assert text.startswith("step,train_loss") and len(text.splitlines()) == 7
    assert run.status()["final_metrics"]["step"] == 6


@pytest.mark.parametrize("choice", ["cancel", "detach"])
def test_ctrl_c_asks_cancel_the_job_or_detach(fake, tmp_path, choice):
    import threading

    from ftwizard.backends import backend_for_run
    from ftwizard.follow import follow

    import io

    from rich.console import Console

    run = start_held_run(fake, tmp_path, SQL_RECIPE, SMALL)
    provider = backend_for_run(run)
    deadline = time.time() + 30
    asked = []
    screen = io.StringIO()

    def ctrl_c() -> None:
        # The user's Ctrl-C, once the follower shows the run. A fixed delay raced the follower's start-up
        # (its first import of rich.progress takes longer than 0.3 s on a loaded machine): the interrupt then
        # landed before follow() listened for it, and [cancel], the first to follow, failed.
        while not screen.getvalue() and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    code = follow(run, is_alive=lambda: provider.is_alive(run), cancel=lambda: provider.cancel(run),
                  ask=lambda console: asked.append(1) or choice, console=Console(file=screen, width=120))
    assert asked == [1]
    job = fake.jobs[run.status()["job_id"]]
    if choice == "cancel":
        assert code == 130 and run.state == "cancelled" and job["status"] == "cancelled"
    else:
        assert code == 130 and job["status"] == "running" and provider.is_alive(run)
        fake.hold_running = False  # the detached job goes on and the worker records its end
        while run.state != "succeeded":
            assert time.time() < deadline, run.status()
            time.sleep(0.05)
    assert fake.job_creates == 1


def test_whole_run_with_evaluation_and_baseline(fake, tmp_path):
    """eval.enabled and eval.baseline: the worker evaluates the fine-tuned model, then the base model."""
    seen: list[str] = []

    def answer(model, messages):
        seen.append(model)
        # The fine-tuned model answers with the reference; the base model with chatter and a wrong query.
        if model.startswith("ft:"):
            return answers[messages[-1]["content"]]
        return "Sure! Here is a query: SELECT nothing FROM nowhere"

    from ftwizard.recipe import load_recipe
    from ftwizard.tasks import get_task

    recipe = load_recipe(SQL_RECIPE, MODEL + ["data.limit_eval=10"])
    answers = {row["question"]: row["answer"] for row in get_task("sql").load_split(recipe, "eval").rows}

    fake.chat_answer = answer
    run = make_run(tmp_path, MODEL + ["data.limit_train=30", "data.limit_eval=10", "eval.baseline=true"])
    assert work(run) == 0
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["n"] == 10 and metrics["metrics"]["execution_match"]["value"] == 1.0
    assert metrics["baseline"]["metrics"]["execution_match"]["value"] == 0.0
    assert (run.path / "predictions_baseline.jsonl").exists()
    assert any(m.startswith("ft:") for m in seen) and "gpt-4o-mini-2024-07-18" in seen
    assert sum(1 for m in seen if not m.startswith("ft:")) == 10, "each base-model answer is paid for once"
    assert_no_secret(run)


@pytest.mark.parametrize("recipe", ["sql-gpt35", "viggo-gpt35"])
def test_seed_gpt35_recipe_is_refused_before_contacting_anything(fake, tmp_path, recipe, capfd):
    """gpt-3.5-turbo was shut down on 2026-10-23: `run` says so, names what runs today, uploads nothing."""
    with pytest.raises(UsageError) as e:
        main(["run", str(REPO / "recipes" / f"{recipe}.toml"), "--runs-dir", str(tmp_path / "runs")])
    assert e.value.exit_code == 2
    text = str(e.value)
    assert "2026-10-23" in text and "nothing was uploaded" in text
    task = recipe.split("-")[0]
    assert f"recipes/{task}-together.toml" in text and "lora.toml" in text
    assert fake.requests == [] and not (tmp_path / "runs").exists()


def test_any_403_on_create_is_the_wind_down(fake, tmp_path):
    fake.fail("jobs.create", (403, None, "You do not have access to this resource."))
    run = make_run(tmp_path)
    assert work(run) == 1
    st = run.status()
    assert st["error_kind"] == "wind_down" and fake.job_creates == 0 and fake.calls["jobs.create"] == 1
    (err,) = run.events(("error",))
    assert "2027-01-06" in "\n".join(err["advice"])


def test_a_fine_tune_is_not_evaluated_after_its_base_model_shut_down(fake, tmp_path, monkeypatch):
    run = make_run(tmp_path)
    assert work(run) == 0 and run.status()["fine_tuned_model"].startswith("ft:gpt-4o-mini")
    monkeypatch.setenv("FTWIZARD_AS_OF", "2027-01-14")
    requests = len(fake.requests)
    with pytest.raises(UsageError, match="shut down on 2027-01-14"):
        main(["eval", str(run.path)])
    assert len(fake.requests) == requests  # nothing asked, nothing paid
