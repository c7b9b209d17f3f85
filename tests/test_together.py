"""Together AI against a fake Together server on 127.0.0.1 (real sockets, the real `together` SDK).

In every case exactly one job is created, ids are recorded as they appear, the adapter comes home into
adapter/, and the key never reaches the run directory or the output.
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
from ftwizard.runs.directory import RunDirectory
from tests import hosted_helpers
from tests.fake_together import DEFAULT_KEY, FakeTogether, adapter_archive
from tests.hosted_helpers import hosted_env, lose_the_create_answer, metric_steps, start_held_run, work

REPO = Path(__file__).resolve().parent.parent
VIGGO = REPO / "recipes" / "viggo-together.toml"
SQL = REPO / "recipes" / "sql-together.toml"
SMALL = ["data.limit_train=30", "data.limit_eval=12", "eval.enabled=false"]


@pytest.fixture
def dummy_adapter(tmp_path) -> Path:
    """An adapter folder as PEFT writes it (contents not loaded by these tests)."""
    d = tmp_path / "served-adapter"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 16}))
    (d / "adapter_model.safetensors").write_bytes(b"\0" * 256)
    return d


@pytest.fixture
def fake(monkeypatch, dummy_adapter):
    server = FakeTogether(adapter_dir=dummy_adapter).start()
    hosted_env(monkeypatch, TOGETHER_API_KEY=DEFAULT_KEY, TOGETHER_BASE_URL=server.url)
    yield server
    server.stop()
    output.reset()


assert_no_secret = functools.partial(hosted_helpers.assert_no_secret, key=DEFAULT_KEY)


def make_run(tmp_path: Path, overrides: list[str] = SMALL, recipe_path: Path = VIGGO) -> RunDirectory:
    return hosted_helpers.make_run(tmp_path, overrides, recipe_path)


# ---------------------------------------------------------------------------------------------------

def test_sql_together_job_succeeds_with_adapter_cost_and_both_estimates(fake, tmp_path):
    run = make_run(tmp_path, SMALL, SQL)
    assert work(run) == 0
    st = run.status()
    assert st["state"] == "succeeded" and st["provider"] == "together" and fake.job_creates == 1
    job = next(iter(fake.jobs.values()))
    assert st["job_id"] == job["id"] and st["fine_tuned_model"] == job["model_output_name"]
    assert st["output_model_name"] == job["model_output_name"] and st["training_file_id"] == job["training_file"]
    # The create: LoRA with the recipe's settings, a suffix carrying the run's marker, SDK retries off.
    (body,) = fake.create_bodies
    assert body["training_type"]["type"] == "Lora" and body["training_type"]["lora_r"] == 16
    assert body["training_type"]["lora_alpha"] == 32 and body["learning_rate"] == 1e-4 and body["n_epochs"] == 3
    assert body["suffix"] == st["job_suffix"] and body["suffix"].startswith("sql-ftw")
    assert body["validation_file"] == st["validation_file_id"]
    # The adapter came home, extracted from the zstd tar.
    assert sorted(p.name for p in run.adapter_dir.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert not (run.path / "adapter_download.tar.zst").exists()
    cost = json.loads(run.cost_path.read_text())
    assert cost["training_usd"] == pytest.approx(job["total_price"] / 1e9, abs=1e-4)  # nano-dollars -> dollars
    assert cost["training_usd_source"] == "provider bill" and cost["trained_tokens"] == job["token_count"]
    assert cost["training_usd_catalog"] == pytest.approx(job["token_count"] * 0.48 / 1e6, abs=1e-4)
    assert cost["provider_estimate_usd"] > 0 and cost["estimated_training_usd"] > 0 and cost["weights_downloaded"]
    assert cost["price_date"] == "2026-05"
    serving = cost["serving"]  # how the fine-tune would serve, for the verdict's hosted-vs-home figures
    assert serving["kind"] == "dedicated" and serving["hosting_usd_per_hour"] == 3.99
    assert serving["weights_downloadable"] and serving["model"] == st["fine_tuned_model"]
    kinds = [(e["kind"], e.get("source")) for e in run.events(("cost",))]
    assert ("estimated", None) in kinds and ("estimated", "provider") in kinds and ("actual", None) in kinds
    metrics = run.events(("metric",))
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert all(m["max_steps"] == 6 and m["loss"] > 0 for m in metrics)
    assert_no_secret(run)


def test_viggo_together_through_the_cli_then_eval_local_scores_the_downloaded_adapter(fake, tmp_path, capfd):
    """The whole path: run (hosted training + hosted evaluation), the adapter in adapter/, then the very same
    weights scored on this machine with `ftwizard eval RUN_DIR --local`."""
    from tests.tinymodel import make_tiny_model

    base = make_tiny_model(tmp_path / "tiny-base")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    served = tmp_path / "tiny-adapter"
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                                LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(served)
    fake.adapter_dir = served
    code = main(["run", str(VIGGO), "--runs-dir", str(tmp_path / "runs"), "--set", "data.limit_train=30",
                 "--set", "data.limit_eval=10", "--set", "eval.limit=6", "--set", f"model.base={base}",
                 "--set", "eval.max_new_tokens=8"])
    cap = capfd.readouterr()
    assert code == 0, cap.err
    (run_path,) = (tmp_path / "runs").iterdir()
    run = RunDirectory(run_path)
    assert run.state == "succeeded" and fake.job_creates == 1
    assert (run.adapter_dir / "adapter_config.json").exists() and (run.adapter_dir / "adapter_model.safetensors").exists()
    assert set(fake.chat_models) == {run.status()["fine_tuned_model"]}  # hosted eval asked the output model
    hosted = json.loads(run.metrics_path.read_text())
    assert hosted["served"] == "hosted" and hosted["n"] == 6 and hosted["metrics"]["meaning_match"]["value"] == 1.0
    assert json.loads(run.cost_path.read_text())["training_usd"] > 0
    assert main(["eval", str(run.path), "--local", "--json"]) == 0
    cap2 = capfd.readouterr()
    local = json.loads(run.metrics_path.read_text())["local"]
    assert local["served"] == "local" and local["which"] == "local" and local["n"] == 6
    assert local["job_id"] == run.status()["job_id"] and local["provider"] == "together"
    assert "meaning_match" in local["metrics"] and (run.path / "predictions_local.jsonl").exists()
    again = json.loads(run.metrics_path.read_text())
    assert again["served"] == "hosted" and again["metrics"] == hosted["metrics"]  # the hosted section is kept
    assert_no_secret(run, cap.out, cap.err, cap2.out, cap2.err)


def test_429_with_retry_after_and_5xx_bursts_still_one_job(fake, tmp_path):
    fake.fail("files.create", 429, 500).fail("estimate", 503).fail("jobs.create", 429, 502)
    fake.fail("jobs.retrieve", 500, 429).fail("jobs.events", 500).fail("jobs.metrics", 502).fail("download", 500)
    run = make_run(tmp_path)
    assert work(run) == 0
    assert fake.job_creates == 1 and run.state == "succeeded"
    assert len([f for f in fake.files.values() if f["_preprocessed"]]) == 2  # train + validation, once each
    assert metric_steps(run) == [1, 2, 3, 4, 5, 6]
    assert any("429" in e["text"] and "retry" in e["text"] for e in run.events(("log",)))


@pytest.mark.parametrize("mode", ["lost", "slow", "error-after"])
def test_create_whose_answer_is_lost_is_found_by_its_suffix_not_repeated(fake, tmp_path, monkeypatch, mode):
    lose_the_create_answer(fake, monkeypatch, mode)
    run = make_run(tmp_path)
    assert work(run) == 0
    assert fake.job_creates == 1 and fake.calls["jobs.create"] == 1
    st = run.status()
    assert fake.jobs[st["job_id"]]["suffix"] == st["job_suffix"]
    assert any("answer was lost" in e["text"] for e in run.events(("log",)))
    assert st["state"] == "succeeded" and (run.adapter_dir / "adapter_config.json").exists()


def test_lost_upload_answer_is_not_a_second_file(fake, tmp_path):
    fake.fail("files.preprocess", "lost")  # the file was processed; the client never heard
    run = make_run(tmp_path)
    assert work(run) == 0
    assert len(fake.files) == 2 and fake.calls["files.create"] == 3  # the retry was answered 409: that file
    assert fake.job_creates == 1


def test_failed_job_names_its_job_error_event(fake, tmp_path):
    fake.outcome = "error"
    run = make_run(tmp_path)
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and "CUDA error on the node" in st["error"] and st["job_status"] == "error"
    assert fake.job_creates == 1 and not run.adapter_dir.exists() or not any(run.adapter_dir.iterdir())
    assert metric_steps(run) == [1, 2, 3, 4]


def test_every_event_and_step_recorded_once_in_order_across_polls(fake, tmp_path):
    fake.steps, fake.steps_per_tick = 40, 7
    run = make_run(tmp_path)
    assert work(run) == 0
    assert metric_steps(run) == list(range(1, 41))
    texts = [e["text"] for e in run.events(("log",)) if e.get("source") == "provider"]
    job_id = run.status()["job_id"]
    assert texts == [e["message"] for e in fake.events[job_id]]
    # metrics were asked only from the first unrecorded step on
    assert fake.calls["jobs.metrics"] == fake.calls["jobs.retrieve"]


def test_resume_refollows_the_recorded_job_and_a_finished_job_is_not_uploaded_again(fake, tmp_path):
    run = start_held_run(fake, tmp_path, VIGGO, SMALL)
    os.kill(run.status()["pid"], signal.SIGKILL)  # the worker dies; the job goes on at Together
    time.sleep(0.2)
    fake.hold_running = False
    assert main(["run", "--resume", str(run.path)]) == 0
    assert run.state == "succeeded" and fake.job_creates == 1 and fake.calls["jobs.create"] == 1
    assert fake.calls["files.create"] == 2 and metric_steps(run) == [1, 2, 3, 4, 5, 6]
    # A worker started again on a run whose job already finished records it and uploads nothing.
    run.update_status(state="running")
    creates, uploads = fake.calls["jobs.create"], fake.calls["files.create"]
    assert work(run) == 0
    assert (fake.calls["jobs.create"], fake.calls["files.create"]) == (creates, uploads)


def test_cancel_cancels_the_together_job(fake, tmp_path):
    deadline = time.time() + 30  # start and cancel together, as before
    run = start_held_run(fake, tmp_path, VIGGO, SMALL)
    assert main(["cancel", str(run.path)]) == 0
    while run.state != "cancelled":
        assert time.time() < deadline, run.status()
        time.sleep(0.05)
    assert fake.jobs[run.status()["job_id"]]["status"] == "cancelled" and fake.job_creates == 1


def test_unsafe_or_foreign_adapter_archives_are_refused(fake, tmp_path, dummy_adapter):
    fake.adapter_bytes = adapter_archive(dummy_adapter, extra={"../../escaped.txt": b"owned"})
    run = make_run(tmp_path)
    assert work(run) == 1
    assert "unsafe entry '../../escaped.txt'" in run.status()["error"]
    assert not (tmp_path / "escaped.txt").exists() and not list(tmp_path.rglob("escaped.txt"))
    fake.adapter_bytes = b"PK\x03\x04 a zip, not a zstd tar"
    run2 = make_run(tmp_path / "2")
    assert work(run2) == 1 and "neither a zstd nor a gzip tar archive" in run2.status()["error"]
    assert fake.job_creates == 2  # one per run


def test_wrong_key_is_named_never_shown(fake, tmp_path, monkeypatch, capfd):
    run = make_run(tmp_path)
    wrong = "tgp_v1_wrong-KEY-abcdefghijklmnop123"
    monkeypatch.setenv("TOGETHER_API_KEY", wrong)  # the fake answers 401 quoting the key it was given
    assert work(run) == 1
    cap = capfd.readouterr()
    st = run.status()
    assert st["error_kind"] == "auth" and "TOGETHER_API_KEY" in st["error"]
    assert_no_secret(run, cap.out, cap.err, key=wrong)
    assert fake.job_creates == 0


def test_missing_key_is_a_usage_error_before_anything(monkeypatch, tmp_path):
    from ftwizard.errors import UsageError

    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    monkeypatch.setenv("FTWIZARD_AS_OF", "2026-12-01")
    with pytest.raises(UsageError, match="TOGETHER_API_KEY is not set"):
        main(["run", str(VIGGO), "--runs-dir", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------------------
# What the real service requires and answers (the fake enforces it, built from the SDK's own types)

def test_estimate_price_body_carries_what_the_api_requires_for_lora_sft(fake, tmp_path):
    """The estimate body comes from the SDK's own request builder: SFT's train_on_inputs, LoRA's rank and alpha
    (the fake answers 422 without them, as the SDK's request types mark them required)."""
    run = make_run(tmp_path, SMALL, SQL)
    assert work(run) == 0
    (est, *_) = fake.estimate_bodies
    assert est["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
    assert est["training_type"]["type"] == "Lora"
    assert (est["training_type"]["lora_r"], est["training_type"]["lora_alpha"]) == (16, 32)
    assert est["n_epochs"] == fake.create_bodies[0]["n_epochs"]  # it prices the job that is created
    assert json.loads(run.cost_path.read_text())["provider_estimate_usd"] > 0


def test_eval_loss_rows_at_the_training_step_are_kept(fake, tmp_path):
    run = make_run(tmp_path, [*SMALL, "hosted.n_evals=3"], SQL)
    assert work(run) == 0
    metrics = run.events(("metric",))
    evals = [(m["step"], m["eval_loss"]) for m in metrics if "eval_loss" in m]
    assert [s for s, _ in evals] == [2, 4, 6] and all(v > 0 for _, v in evals)
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2, 3, 4, 5, 6]  # every training row once


def test_a_second_run_on_the_same_data_never_adopts_the_first_runs_job(fake, tmp_path):
    """Together gives identical uploads the same file id: a lost create is looked up by this run's suffix
    only, never by the training file (which the first run's job also has)."""
    first = make_run(tmp_path / "a")
    assert work(first) == 0
    fake.fail("jobs.create", 500)  # nothing created; the client cannot know that
    second = make_run(tmp_path / "b")
    assert work(second) == 0
    assert second.status()["training_file_id"] == first.status()["training_file_id"]  # the same file id
    assert second.status()["job_id"] != first.status()["job_id"] and fake.job_creates == 2
    assert fake.jobs[second.status()["job_id"]]["suffix"] == second.status()["job_suffix"]


def test_a_gzip_adapter_archive_is_unpacked(fake, tmp_path, dummy_adapter):
    fake.adapter_bytes = adapter_archive(dummy_adapter, compression="gzip")
    run = make_run(tmp_path)
    assert work(run) == 0
    assert sorted(p.name for p in run.adapter_dir.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]


def test_auto_learning_rate_is_a_stated_value_sent_and_recorded(fake, tmp_path):
    from ftwizard.backends.hosted.together import DEFAULT_LEARNING_RATE

    run = make_run(tmp_path, [*SMALL, "hosted.learning_rate=auto"])
    assert work(run) == 0
    assert fake.create_bodies[0]["learning_rate"] == DEFAULT_LEARNING_RATE == 1e-5
    st = run.status()
    assert st["hyperparameters"]["learning_rate"] == 1e-5 and "Together's API default" in st["learning_rate_source"]


# ---------------------------------------------------------------------------------------------------
# Downloads: transient faults retried, limits on what comes home

def test_an_adapter_download_cut_once_is_retried_and_the_run_succeeds_with_one_job(fake, tmp_path):
    fake.cut_downloads = 1  # half the archive, then the connection closes (httpx.RemoteProtocolError)
    run = make_run(tmp_path)
    assert work(run) == 0
    assert run.state == "succeeded" and fake.job_creates == 1 and fake.calls["download"] == 2
    assert (run.adapter_dir / "adapter_config.json").exists()
    assert not [p.name for p in run.path.iterdir() if p.name.startswith(("adapter_download", ".adapter"))]
    assert any("downloading the adapter" in e["text"] and "retry 1" in e["text"] for e in run.events(("log",)))


def test_adapter_archives_over_the_size_or_file_limits_are_refused(fake, tmp_path, dummy_adapter, monkeypatch):
    monkeypatch.setenv("FTWIZARD_ADAPTER_MAX_BYTES", "200")  # the dummy weights alone are 256 bytes
    run = make_run(tmp_path)
    assert work(run) == 1
    assert "unpacks to more than 200 bytes" in run.status()["error"] and not run.adapter_dir.exists()
    monkeypatch.delenv("FTWIZARD_ADAPTER_MAX_BYTES")
    monkeypatch.setenv("FTWIZARD_ADAPTER_MAX_FILES", "3")
    fake.adapter_bytes = adapter_archive(dummy_adapter, extra={f"adapter/junk{i}": b"x" for i in range(5)})
    run2 = make_run(tmp_path / "2")
    assert work(run2) == 1
    assert "more than 3 entries" in run2.status()["error"] and not run2.adapter_dir.exists()
    assert not [p for p in run2.path.iterdir() if p.name.startswith(("adapter_download", ".adapter"))]


# ---------------------------------------------------------------------------------------------------
# Stops and failures that billed nothing, or whose job is recorded, resume

def test_sigterm_inside_an_sdk_call_stops_the_follower_and_resume_refollows_the_job(fake, tmp_path):
    """SIGTERM lands while the worker waits on Together (a slow retrieve): the SDK must not turn it into a
    retried connection error; the run records the stop and `run --resume` follows the same job to its end."""
    run = start_held_run(fake, tmp_path, VIGGO, SMALL)
    fake.slow_s = 4.0
    calls = fake.calls["jobs.retrieve"]
    fake.fail("jobs.retrieve", "slow", "slow", "slow")
    deadline = time.time() + 10
    while fake.calls["jobs.retrieve"] == calls:  # the slow call is in flight
        assert time.time() < deadline
        time.sleep(0.01)
    pid = run.status()["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 3  # well before the slow answer (4 s) and any retry
    while run.state != "failed":
        assert time.time() < deadline, run.status()
        time.sleep(0.02)
    st = run.status()
    assert st["error_kind"] == "stopped" and st["job_id"] in st["error"]
    fake.script["jobs.retrieve"].clear()
    fake.hold_running = False
    assert main(["run", "--resume", str(run.path)]) == 0
    assert run.state == "succeeded" and fake.job_creates == 1 and fake.calls["jobs.create"] == 1
    assert (run.adapter_dir / "adapter_config.json").exists()


def test_an_upload_5xx_storm_before_any_job_leaves_a_run_that_resumes(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FTWIZARD_HOSTED_MAX_ATTEMPTS", "3")
    fake.fail("files.create", 503, 503, 503)
    run = make_run(tmp_path)
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and not st.get("job_id") and fake.job_creates == 0
    from ftwizard.backends import backend_for

    assert backend_for(run.recipe()).resume_refusal(run) is None  # nothing was billed
    assert work(run) == 0  # what `run --resume` starts
    assert run.state == "succeeded" and fake.job_creates == 1


def test_an_upload_timeout_before_any_job_leaves_a_run_that_resumes(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FTWIZARD_HOSTED_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("FTWIZARD_HOSTED_TIMEOUT_SECONDS", "0.3")
    fake.slow_s = 1.0
    fake.fail("files.create", "slow", "slow")
    run = make_run(tmp_path)
    assert work(run) == 1
    assert run.status()["error_kind"] == "network" and fake.job_creates == 0
    assert main(["run", "--resume", str(run.path)]) == 0
    assert run.state == "succeeded" and fake.job_creates == 1


# ---------------------------------------------------------------------------------------------------
# How the fine-tune is evaluated: chosen before launch, said in the preflight

def _launched_and_stopped(tmp_path, recipe: Path, *overrides: str) -> None:
    """`ftwizard run --detach` (preflight, then launch); the worker is stopped at once."""
    runs = tmp_path / f"runs{len(list(tmp_path.glob('runs*')))}"
    assert main(["run", str(recipe), "--detach", "--runs-dir", str(runs)]
                + sum((["--set", s] for s in ["data.limit_train=30", "eval.limit=2", *overrides]), [])) == 0
    (run_path,) = runs.iterdir()
    pid = RunDirectory(run_path).status().get("pid")
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_preflight_says_how_the_run_is_evaluated_and_its_learning_rate(fake, tmp_path, capfd):
    _launched_and_stopped(tmp_path, SQL)
    err = capfd.readouterr().err
    assert "evaluation: serverless LoRA on Together, per token" in err
    assert "learning rate: 0.0001 (hosted.learning_rate)" in err
    _launched_and_stopped(tmp_path, VIGGO, "hosted.model=Qwen/Qwen3-8B", "hosted.learning_rate=auto")
    err = capfd.readouterr().err
    assert "evaluation: at home, meta-llama/Llama-3.1-8B-Instruct + the downloaded adapter" in err
    assert "only from a dedicated endpoint" in err and "learning rate: 1e-05 (Together's API default" in err


def test_a_base_off_the_serverless_list_without_the_adapter_is_refused_before_anything(fake, tmp_path):
    from ftwizard.errors import UsageError

    with pytest.raises(UsageError, match="needs a way to evaluate"):
        main(["run", str(VIGGO), "--runs-dir", str(tmp_path / "runs"), "--set", "hosted.model=Qwen/Qwen3-8B",
              "--set", "hosted.download_adapter=false"])
    assert not (tmp_path / "runs").exists() and fake.calls["files.create"] == 0


def test_a_base_off_the_serverless_list_is_evaluated_at_home_on_the_adapter(fake, tmp_path):
    """Qwen3-8B fine-tunes serve only from a dedicated endpoint (the fake refuses their chat, as Together does):
    the plan made before launch evaluates the downloaded adapter on this machine instead."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tests.tinymodel import make_tiny_model

    base = make_tiny_model(tmp_path / "tiny-base")
    served = tmp_path / "tiny-adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                   LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])).save_pretrained(served)
    fake.adapter_dir = served
    run = make_run(tmp_path, ["data.limit_train=30", "data.limit_eval=10", "eval.limit=4", "eval.max_new_tokens=8",
                              "hosted.model=Qwen/Qwen3-8B", f"model.base={base}"])
    assert work(run) == 0, run.status()
    assert run.state == "succeeded" and not fake.chat_models  # Together's chat was never asked
    section = json.loads(run.metrics_path.read_text())["local"]
    assert section["served"] == "local" and section["n"] == 4
    serving = json.loads(run.cost_path.read_text())["serving"]
    assert serving["kind"] == "dedicated" and serving["evaluated"] == "at home"
