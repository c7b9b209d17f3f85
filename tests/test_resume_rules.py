"""`run --resume` resumes only what can resume, and says what to do instead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.runs.directory import RunDirectory

ROOT = Path(__file__).resolve().parent.parent


def _run_dir(tmp_path: Path, recipe: str, **status) -> RunDirectory:
    run = RunDirectory.create(tmp_path / "runs", Path(recipe).stem, (ROOT / "recipes" / recipe).read_text())
    run.update_status(**status)
    return run


def _resume(run: RunDirectory):
    return subprocess.run([sys.executable, "-m", "ftwizard", "run", "--resume", str(run.path)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(run.path.parent), "OPENAI_API_KEY": "sk-test-123456789"})


@pytest.mark.parametrize("state", ["failed", "cancelled", "succeeded"])
def test_a_finished_hosted_run_is_never_restarted(tmp_path, state):
    # failed: the job itself failed at the provider (a run that failed around a live or succeeded job
    # continues: tests/test_paid_runs.py)
    run = _run_dir(tmp_path, "viggo-gpt35.toml", state=state, backend="hosted", provider="openai",
                   job_id="ftjob-1", error="the job failed" if state == "failed" else None,
                   job_outcome=state if state != "succeeded" else "succeeded")
    before = json.loads(run.status_path.read_text())
    p = _resume(run)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    assert "ftwizard run " in p.stderr or "ftwizard eval " in p.stderr, "says what to do instead"
    assert json.loads(run.status_path.read_text()) == before, "status untouched: no worker marked it running"
    assert not (run.path / "worker.log").exists(), "no worker was started"


def test_a_failed_local_run_without_a_checkpoint_is_refused(tmp_path):
    run = _run_dir(tmp_path, "viggo-cpu-demo.toml", state="failed", backend="local", error="out of memory")
    p = _resume(run)
    assert p.returncode == 2 and "first complete checkpoint" in p.stderr and "out of memory" in p.stderr


def test_a_failed_local_run_with_a_checkpoint_may_resume(tmp_path):
    run = _run_dir(tmp_path, "viggo-cpu-demo.toml", state="failed", backend="local")
    ck = run.checkpoints_dir / "checkpoint-10"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text("{}")
    from ftwizard.backends import backend_for_run

    assert backend_for_run(run).resume_refusal(run) is None


def test_a_run_killed_mid_flight_may_resume(tmp_path):
    run = _run_dir(tmp_path, "viggo-gpt35.toml", state="running", backend="hosted", job_id="ftjob-1")
    from ftwizard.backends import backend_for_run

    assert backend_for_run(run).resume_refusal(run) is None


@pytest.mark.parametrize("with_checkpoint", [False, True])
def test_a_local_failure_offers_resume_only_when_resume_would_be_accepted(tmp_path, with_checkpoint):
    """The local worker's failures (crash, full disk, out of memory) used to say `run --resume` whether or not a
    checkpoint existed; without one the resume is refused, so the offer must be the new run instead."""
    from ftwizard.backends import backend_for_run
    from ftwizard.backends.local.worker import Worker, disk_advice
    from ftwizard.runs.worker import Failure

    run = _run_dir(tmp_path, "viggo-cpu-demo.toml", state="running", backend="local")
    if with_checkpoint:
        ck = run.checkpoints_dir / "checkpoint-10"
        ck.mkdir(parents=True)
        (ck / "trainer_state.json").write_text("{}")
    code = Worker(run).record(Failure("disk full: [Errno 28] No space left on device", kind="disk",
                                      advice=disk_advice(run.checkpoints_dir) + [
                                          "then start again with the change: `ftwizard run RUN_DIR/recipe.toml --set ...`"]))
    assert code == 1 and run.status()["error_kind"] == "disk"
    advice = run.events(("error",))[-1]["advice"]
    refusal = backend_for_run(run).resume_refusal(run)
    assert (refusal is None) == with_checkpoint
    assert any("--resume" in a for a in advice) == with_checkpoint
    assert not any("RUN_DIR" in a for a in advice)
    if not with_checkpoint:
        assert any(f"ftwizard run {run.path / 'recipe.toml'}" in a for a in advice)
