"""What a user paid for is never lost: a failure records where it happened (`failed_phase`), `run --resume`
continues everything that would not create a second bill, and every offered command works in that state.

Against the fake OpenAI server (real sockets, the real openai SDK), with the worker run in this process.
"""

from __future__ import annotations

import pytest

from ftwizard.backends import backend_for_run
from ftwizard.cli.main import main
from ftwizard.errors import UsageError
from ftwizard.runs.directory import RunDirectory, StatusDamaged
from tests.test_hosted import MODEL, SMALL, fake, make_run, work  # noqa: F401 - fixtures
from tests.test_together import dummy_adapter  # noqa: F401 - fixture

WITH_EVAL = MODEL + ["data.limit_train=30", "data.limit_eval=12", "eval.enabled=true"]


def _error_event(run: RunDirectory) -> dict:
    return [e for e in run.events(("error",))][-1]


def _offered_commands(run: RunDirectory) -> list[str]:
    ev = _error_event(run)
    return [line for line in [ev["message"], *ev.get("advice", [])] if "ftwizard " in line]


def test_a_crash_after_the_job_succeeded_resumes_to_succeeded_without_a_second_job(fake, tmp_path, monkeypatch):
    from ftwizard.evaluation import runner

    real = runner.evaluate_run
    monkeypatch.setattr(runner, "evaluate_run", lambda *a, **k: int("9" * 5000))  # a metric bug: ValueError
    run = make_run(tmp_path, WITH_EVAL)
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and st["failed_phase"] == "after_job" and st["job_outcome"] == "succeeded"
    assert backend_for_run(run).resume_refusal(run) is None, "a paid job's results can always be had again"
    offered = _offered_commands(run)
    assert any(f"ftwizard run --resume {run.path}" in line for line in offered), offered
    assert not any("ftwizard run " in line and "--resume" not in line for line in offered), offered

    monkeypatch.setattr(runner, "evaluate_run", real)
    assert work(run) == 0
    st = run.status()
    assert st["state"] == "succeeded" and run.metrics_path.exists()
    assert fake.job_creates == 1 and fake.calls["jobs.create"] == 1 and fake.calls["files.create"] == 2


def test_a_failure_before_any_job_resumes_and_creates_the_one_job(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FTWIZARD_HOSTED_MAX_ATTEMPTS", "3")
    fake.fail("files.create", *[(500, "server_error", "boom")] * 3)  # a 5xx storm longer than the retries
    run = make_run(tmp_path)
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and st["failed_phase"] == "before_job" and fake.job_creates == 0
    assert backend_for_run(run).resume_refusal(run) is None, "nothing was billed: resume is safe"
    assert any("--resume" in line for line in _offered_commands(run))
    assert work(run) == 0
    assert run.state == "succeeded" and fake.job_creates == 1


def test_a_job_that_failed_at_the_provider_is_refused_and_offers_a_new_run(fake, tmp_path):
    fake.outcome = "failed"
    fake.error = {"code": "server_error", "message": "The job failed due to an internal error.", "param": None}
    run = make_run(tmp_path)
    assert work(run) == 1
    st = run.status()
    assert st["failed_phase"] == "job" and st["job_outcome"] == "failed"
    refusal = backend_for_run(run).resume_refusal(run)
    assert refusal and "new job" in refusal and f"ftwizard run {run.recipe_path}" in refusal
    offered = _offered_commands(run)
    assert not any("--resume" in line for line in offered), "never offer what would be refused"
    assert any(f"ftwizard run {run.recipe_path}" in line for line in offered)


def test_the_followers_stop_message_offers_a_resume_that_works(fake, tmp_path):
    run = make_run(tmp_path)
    run.update_status(state="failed", error="the hosted follower was stopped", job_id="ftjob-x",
                      job_outcome="running", failed_phase="job")
    assert backend_for_run(run).resume_refusal(run) is None


@pytest.mark.parametrize("damage", [b"", b"{\"state\": \"runn", b"[1, 2]", b"\xff\xfe{}"])
def test_a_damaged_status_file_is_an_error_naming_it_never_a_second_job(fake, tmp_path, damage, capfd):
    run = make_run(tmp_path)
    run.append_event("status", state="running", detail="queued", job_id="ftjob-abc")
    run.status_path.write_bytes(damage)
    with pytest.raises(StatusDamaged) as e:
        run.status()
    assert str(run.status_path) in str(e.value) and "ftjob-abc" in str(e.value)
    with pytest.raises(UsageError) as e:
        main(["run", "--resume", str(run.path)])
    assert str(run.status_path) in str(e.value)
    assert fake.calls["files.create"] == 0 and fake.job_creates == 0
    assert run.status_path.read_bytes() == damage, "the damaged file is left for the user"


def test_runs_lists_a_damaged_run_as_a_problem_naming_its_file(tmp_path):
    from ftwizard.runlist import list_runs
    from tests.test_resume_rules import _run_dir

    run = _run_dir(tmp_path, "viggo-gpt35.toml", state="running", backend="hosted")
    run.status_path.write_text("{not json")
    summaries, problems = list_runs(tmp_path / "runs")
    assert summaries == [] and len(problems) == 1 and str(run.status_path) in problems[0]


def test_fetch_adapter_refuses_a_provider_without_weights(fake, tmp_path):
    run = make_run(tmp_path)
    assert work(run) == 0
    with pytest.raises(UsageError) as e:
        main(["fetch-adapter", str(run.path)])
    assert "openai" in str(e.value).lower() and "weights" in str(e.value)


def test_failed_phase_is_documented(repo):
    text = (repo / "docs" / "ARCHITECTURE.md").read_text()
    for phase in ("before_job", "after_job", "failed_phase", "job_outcome"):
        assert phase in text


def test_fetch_adapter_brings_a_together_adapter_home_again_without_a_job(tmp_path, monkeypatch, dummy_adapter):
    """A paid Together job whose adapter/ is gone (or whose download failed): `fetch-adapter` downloads it again,
    through a connection cut once (retried), and creates nothing."""
    import shutil

    from tests import test_together as tg

    server = tg.FakeTogether(adapter_dir=dummy_adapter).start()
    try:
        for k, v in {"TOGETHER_API_KEY": tg.DEFAULT_KEY, "TOGETHER_BASE_URL": server.url,
                     "FTWIZARD_HOSTED_POLL_SECONDS": "0.02", "FTWIZARD_HOSTED_RETRY_BASE_SECONDS": "0.01",
                     "FTWIZARD_HOSTED_TIMEOUT_SECONDS": "5", "FTWIZARD_AS_OF": "2026-12-01"}.items():
            monkeypatch.setenv(k, v)
        run = tg.make_run(tmp_path)
        assert work(run) == 0
        shutil.rmtree(run.adapter_dir)
        creates, calls = server.job_creates, dict(server.calls)
        server.cut_downloads = 1
        assert main(["fetch-adapter", str(run.path)]) == 0
        assert sorted(p.name for p in run.adapter_dir.iterdir()) == ["adapter_config.json",
                                                                     "adapter_model.safetensors"]
        assert server.job_creates == creates == 1 and server.cut_downloads == 0, "the cut download was retried"
        assert {k: v for k, v in server.calls.items() if k.startswith("files")} == \
            {k: v for k, v in calls.items() if k.startswith("files")}, "nothing uploaded again"
        assert not list(run.path.glob("adapter_download*")), "no half file left"
    finally:
        server.stop()


def test_fetch_adapter_before_the_job_succeeded_says_what_works(tmp_path, monkeypatch):
    from tests.test_resume_rules import _run_dir

    monkeypatch.setenv("TOGETHER_API_KEY", "tgp_v1_" + "x" * 20)
    run = _run_dir(tmp_path, "viggo-together.toml", state="failed", backend="hosted", provider="together",
                   job_id="ft-1", job_outcome="running", failed_phase="job", error="the follower was stopped")
    with pytest.raises(UsageError) as e:
        main(["fetch-adapter", str(run.path)])
    assert "no succeeded Together job" in str(e.value) and f"ftwizard run --resume {run.path}" in str(e.value)


def test_a_full_disk_after_the_job_is_recorded_and_the_run_resumes(fake, tmp_path, monkeypatch):
    """The disk fills while the adapter or results are written: the worker records `failed` (kind disk) through
    the run's space reserve instead of dying with the run left `running`; freed, the run resumes to success."""
    import errno

    from ftwizard import fsutil
    from ftwizard.backends.hosted.job import OpenAIJob
    from ftwizard.runs.directory import SPACE_RESERVE

    run = make_run(tmp_path)
    assert (run.path / SPACE_RESERVE).stat().st_size > 0
    real_write, real_record = fsutil.atomic_write_bytes, OpenAIJob.record_success

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_while_reserved(path, data):
        if (run.path / SPACE_RESERVE).exists():
            full()
        real_write(path, data)

    def record_on_a_full_disk(self, job):
        monkeypatch.setattr(fsutil, "atomic_write_bytes", full_while_reserved)  # every write fails from here
        full()

    monkeypatch.setattr(OpenAIJob, "record_success", record_on_a_full_disk)
    assert work(run) == 1
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "disk" and st["failed_phase"] == "after_job"
    assert any(e["kind"] == "disk" for e in run.events(("error",)))
    monkeypatch.setattr(OpenAIJob, "record_success", real_record)
    monkeypatch.setattr(fsutil, "atomic_write_bytes", real_write)
    assert work(run) == 0 and run.state == "succeeded" and fake.job_creates == 1
    assert (run.path / SPACE_RESERVE).exists(), "the next worker set the reserve aside again"


def test_a_run_records_its_data_files_absolute_so_another_folder_reads_the_same_file(fake, tmp_path, monkeypatch):
    """Started with `train = "orders.jsonl"` in folder a/, resumed from folder b/ that has an orders.jsonl of
    its own: the run must read a/'s file (it used to read b/'s, or none)."""
    import json as _json

    from ftwizard.tasks import get_task

    a, b = tmp_path / "a", tmp_path / "b"
    for folder, tag in ((a, "mine"), (b, "other")):
        folder.mkdir()
        (folder / "orders.jsonl").write_text("".join(
            _json.dumps({"text": f"{tag} {i}", "label": _json.dumps({"id": i})}) + "\n" for i in range(24)))
    (a / "orders.toml").write_text('name = "orders"\ntask = "custom"\nbackend = "hosted"\n[data]\nsource = "files"\n'
                                   'train = "orders.jsonl"\neval = "orders.jsonl"\n[prompt]\n'
                                   'template = "{text}\\n{label}"\nanswer_field = "label"\n[hosted]\n'
                                   'provider = "openai"\nmodel = "gpt-4o-mini-2024-07-18"\n[eval]\nenabled = false\n')
    monkeypatch.chdir(a)
    assert main(["run", "orders.toml", "--detach", "--runs-dir", str(tmp_path / "runs")]) == 0
    (run_path,) = (tmp_path / "runs").iterdir()
    run = RunDirectory(run_path)
    monkeypatch.chdir(b)
    recipe = run.recipe()
    assert recipe.data.train == str(a / "orders.jsonl") == recipe.data.eval
    rows = get_task("custom", recipe).load_split(recipe, "train").rows
    assert rows[0]["text"] == "mine 0"


def test_run_resume_through_the_cli_follows_a_failed_paid_run_to_success(fake, tmp_path, monkeypatch):
    """Through `ftwizard run --resume` (a worker process of its own, followed): the follower must not read the
    old `failed` as the end before the new worker has started."""
    from ftwizard.evaluation import runner

    run = make_run(tmp_path, WITH_EVAL)
    real = runner.evaluate_run
    monkeypatch.setattr(runner, "evaluate_run", lambda *a, **k: [][1])  # a bug after the paid job: IndexError
    assert work(run) == 1 and run.status()["failed_phase"] == "after_job"
    monkeypatch.setattr(runner, "evaluate_run", real)
    assert main(["run", "--resume", str(run.path)]) == 0
    st = run.status()
    assert st["state"] == "succeeded" and "failed_phase" not in {k for k, v in st.items() if v is not None}
    assert fake.job_creates == 1 and run.metrics_path.exists()
