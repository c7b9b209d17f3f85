"""Fireworks AI against a fake server built from the fireworks SDK's own types (the real SDK talks to it):
datasets awaited until READY, one job whatever happens to its create, the adapter home, and evaluation through
an on-demand deployment ftwizard creates, awaits, uses and deletes (its hours in cost.json) - or at home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fireworks")

from ftwizard.cli import output  # noqa: E402
from ftwizard.errors import UsageError  # noqa: E402
from tests.fake_fireworks import ACCOUNT, DEFAULT_KEY, FakeFireworks  # noqa: E402
from tests.hosted_helpers import assert_no_secret, hosted_env, make_run, work  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "viggo-fireworks.toml"
SMALL = ["data.limit_train=24", "data.limit_eval=10", "eval.limit=6"]


@pytest.fixture
def fw(monkeypatch):
    server = FakeFireworks().start()
    hosted_env(monkeypatch, as_of="2026-12-07", FIREWORKS_API_KEY=DEFAULT_KEY, FIREWORKS_ACCOUNT_ID=ACCOUNT,
               FIREWORKS_BASE_URL=server.url)
    yield server
    server.stop()
    output.reset()


def run_of(tmp_path, overrides=()):
    return make_run(tmp_path, SMALL + list(overrides), RECIPE)


def test_viggo_fireworks_trains_evaluates_on_a_deployment_and_deletes_it(fw, tmp_path, capfd):
    from ftwizard.backends import get_backend
    from ftwizard.recipe import load_recipe

    notes = get_backend("fireworks").preflight_notes(load_recipe(RECIPE))
    assert "on-demand deployment 'viggo-fireworks-eval'" in notes[0] and "$7/h" in notes[0]
    run = run_of(tmp_path)
    assert work(run) == 0
    st = run.status()
    assert st["state"] == "succeeded" and fw.job_creates == 1
    (jid, job), = fw.jobs.items()
    body = fw.create_bodies[0]
    # What the job was created with: the run's own datasets (READY first), the epochs our estimate counted.
    assert body["baseModel"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"
    assert body["epochs"] == st["estimated_epochs"] and body["loraRank"] == 16 and body["learningRate"] == 1e-4
    assert body["dataset"].startswith(f"accounts/{ACCOUNT}/datasets/") and body["evaluationDataset"]
    assert st["fine_tuned_model"] == f"accounts/{ACCOUNT}/models/{jid}"
    # The deployment: made for the fine-tune, used by evaluation, then deleted; its hours priced.
    assert fw.deleted_deployments == ["viggo-fireworks-eval"] and fw.deployments == {}
    assert set(fw.chat_models) == {f"{st['fine_tuned_model']}#accounts/{ACCOUNT}/deployments/viggo-fireworks-eval"}
    metrics = json.loads(run.metrics_path.read_text())
    assert metrics["n"] == 6 and metrics["metrics"]["meaning_match"]["value"] == 1.0
    cost = json.loads(run.cost_path.read_text())
    assert cost["training_usd"] == pytest.approx(st["estimated_billed_tokens"] * 0.50 / 1e6, abs=1e-4)
    assert cost["provider_estimate_usd"] == 1.25 and cost["serving"]["hosting_usd_per_hour"] == 7.0
    assert cost["deployment_hours"] > 0 and cost["deployment_usd"] == pytest.approx(cost["deployment_hours"] * 7.0, abs=1e-5)
    # The adapter came home.
    assert sorted(p.name for p in run.adapter_dir.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    cap = capfd.readouterr()
    assert_no_secret(run, cap.out, cap.err, key=DEFAULT_KEY)


@pytest.mark.parametrize("mode", ["lost", "error-after", 503])
def test_a_create_whose_answer_is_lost_is_never_repeated(fw, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("FTWIZARD_HOSTED_TIMEOUT_SECONDS", "1")
    fw.fail("jobs.create", mode).fail("datasets.create", "lost").fail("jobs.get", 500, 502)
    run = run_of(tmp_path, ["eval.enabled=false"])
    assert work(run) == 0
    assert fw.job_creates == 1 and fw.calls["jobs.create"] >= 1 and len(fw.datasets) == 2
    assert run.status()["job_id"] == next(iter(fw.jobs))


def test_a_failed_job_makes_no_deployment(fw, tmp_path):
    fw.outcome = "JOB_STATE_FAILED"
    run = run_of(tmp_path)
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and "Training failed on the trainer node" in st["error"]
    assert fw.calls["deployments.create"] == 0 and fw.job_creates == 1


def test_the_deployment_is_deleted_even_when_evaluation_fails(fw, tmp_path):
    fw.fail("chat", *[(400, "bad request")] * 20)
    run = run_of(tmp_path)
    work(run)
    assert fw.deleted_deployments == ["viggo-fireworks-eval"] and run.status()["deployment_deleted"]


def test_cancel_cancels_the_job(fw, tmp_path):
    from ftwizard.backends import get_backend

    fw.hold_running = True
    run = run_of(tmp_path, ["eval.enabled=false"])
    provider = get_backend("fireworks")
    job = provider.make_job(run, run.recipe())
    job.ensure_job(job.ensure_uploaded("train", job.ensure_files()["train"]), None)
    provider.cancel(run)
    (only,) = fw.jobs.values()
    assert only["state"] == "JOB_STATE_CANCELLED"


def test_evaluation_at_home_is_chosen_before_launch(fw, tmp_path):
    from ftwizard.backends import get_backend
    from ftwizard.recipe import load_recipe

    recipe = load_recipe(RECIPE, ["hosted.create_deployment=false"])
    assert get_backend("fireworks").preflight_notes(recipe) == [
        "evaluation: at home, meta-llama/Llama-3.1-8B-Instruct + the downloaded adapter (no deployment is created)"]
    with pytest.raises(UsageError, match="hosted.create_deployment = true .* or hosted.download_adapter = true"):
        run_of(tmp_path, ["hosted.create_deployment=false", "hosted.download_adapter=false"])
    with pytest.raises(UsageError, match="deployment id is lowercase"):
        run_of(tmp_path, ["hosted.deployment=Bad_Name"])
    assert fw.requests == []


def test_fireworks_needs_its_account_and_key(fw, tmp_path, monkeypatch):
    monkeypatch.delenv("FIREWORKS_ACCOUNT_ID")
    with pytest.raises(UsageError, match="FIREWORKS_ACCOUNT_ID is not set"):
        run_of(tmp_path)
    assert fw.requests == []


def test_a_crash_mid_create_is_adopted_not_repeated(fw, tmp_path):
    """The worker died after sending the create, before recording the id: the next one finds the job by the id
    this run chose, and never sends a second create that could bill."""
    from ftwizard.backends import get_backend

    run = run_of(tmp_path, ["eval.enabled=false"])
    job = get_backend("fireworks").make_job(run, run.recipe())
    train = job.ensure_uploaded("train", job.ensure_files()["train"])
    run.update_status(create_marker="m-123", create_attempts=1, create_first_attempt_at=1.0)
    params = job.create_params(train, None, "m-123")
    job.client.supervised_fine_tuning_jobs.create(**params)  # what the dead worker sent
    assert work(run) == 0
    assert fw.job_creates == 1 and fw.calls["jobs.create"] == 1
    assert run.status()["job_id"] == params["supervised_fine_tuning_job_id"]


def test_a_deployment_that_fails_is_deleted_and_the_run_says_what_next(fw, tmp_path):
    """A deployment that never becomes READY is not left billing; the fine-tune and the adapter are recorded
    and the run names the command that evaluates them at home."""
    fw.deployment_failure = {"code": "RESOURCE_EXHAUSTED", "message": "no H100 capacity"}
    run = run_of(tmp_path)
    assert work(run) == 1
    st = run.status()
    assert "no H100 capacity" in st["error"] and st["fine_tuned_model"] and st["deployment_deleted"]
    assert fw.deleted_deployments == ["viggo-fireworks-eval"] and fw.job_creates == 1
    err = list(run.events(("error",)))[-1]
    assert any(f"ftwizard eval {run.path} --local" in a for a in err["advice"])
