"""The one detached-worker scaffold (`ftwizard.runs.worker`), each duty on a trivial body in a worker process of
its own: the secrets redacted from what the run records, SIGTERM, a bug, a `Failure`, a full disk, a second
worker on the same run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftwizard.runs import liveness
from ftwizard.runs.directory import RunDirectory

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-scaffoldtest-0123456789abcdef"

# A worker whose body does what FT_BODY says, started as `python -c BODY RUN_DIR`.
BODY = r'''
import errno, os, sys, time
from ftwizard.runs.worker import DetachedWorker, Ended, Failure

class Trivial(DetachedWorker):
    who = "test worker"
    stop_raises = os.environ.get("FT_RAISES") == "1"

    def running_fields(self):
        return {"backend": "test"}

    def body(self):
        what = os.environ["FT_BODY"]
        if what == "succeed":
            return Ended("succeeded", "done with " + os.environ["OPENAI_API_KEY"], {"answer": 42})
        if what == "crash":
            raise RuntimeError("the provider said no to key " + os.environ["OPENAI_API_KEY"])
        if what == "fail":
            raise Failure("quota used up for " + os.environ["OPENAI_API_KEY"], kind="quota",
                          advice=["raise the quota of RUN_DIR's key " + os.environ["OPENAI_API_KEY"]], detail="x")
        if what == "disk":
            raise OSError(errno.ENOSPC, "No space left on device")
        if what in ("wait", "poll"):
            open(os.path.join(sys.argv[1], "body-started"), "w").close()
            deadline = time.time() + 60
            while time.time() < deadline:
                if what == "poll" and self.stop.requested:
                    return Ended("cancelled", "stopped by " + self.stop.signame)
                time.sleep(0.05)
            return Ended("succeeded", "never stopped")
        raise AssertionError(what)

sys.exit(Trivial.main(sys.argv[1:]))
'''


@pytest.fixture
def run(tmp_path) -> RunDirectory:
    return RunDirectory.create(tmp_path / "runs", "demo", (ROOT / "recipes" / "viggo-cpu-demo.toml").read_text())


def _env(body: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FTWIZARD_WORKER_LOCK_FD"}
    env.update(PYTHONPATH=str(ROOT), OPENAI_API_KEY=SECRET, FT_BODY=body, **extra)
    return env


def _worker(run: RunDirectory, body: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BODY, str(run.path)], env=_env(body, **extra), capture_output=True,
                          text=True, timeout=120)


def _start(run: RunDirectory, body: str, **extra: str) -> subprocess.Popen:
    with open(run.path / "worker.log", "ab") as log:
        proc = liveness.spawn(run, [sys.executable, "-c", BODY, str(run.path)], log=log, env=_env(body, **extra))
    deadline = time.time() + 60
    while not (run.path / "body-started").exists():
        assert proc.poll() is None and time.time() < deadline, (run.path / "worker.log").read_text()
        time.sleep(0.05)
    return proc


def _recorded(run: RunDirectory) -> str:
    return "".join(p.read_text(errors="replace") for p in (run.status_path, run.events_path, run.path / "worker.log")
                   if p.exists())


def test_running_then_succeeded_with_the_identity_cancel_signals(run):
    p = _worker(run, "succeed")
    assert p.returncode == 0, p.stderr
    st = run.status()
    assert st["state"] == "succeeded" and st["answer"] == 42 and st["backend"] == "test"
    assert st["host"] and st["pgid"] and st["pid"] and st["pid_start_ticks"] is not None
    assert st["error"] is None and st["error_kind"] is None
    states = [e["state"] for e in run.events(("status",))]
    assert states == ["running", "succeeded"]
    assert SECRET not in _recorded(run) and "done with ***" in run.events(("status",))[-1]["detail"]


def test_a_bug_ends_failed_with_the_error_event_and_the_secret_redacted(run):
    p = _worker(run, "crash")
    assert p.returncode == 1
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "crash"
    assert st["error"] == "RuntimeError: the provider said no to key ***"
    err = run.events(("error",))[-1]
    assert err["kind"] == "crash" and any("worker.log" in a for a in err["advice"])
    assert run.events(("status",))[-1]["state"] == "failed"
    assert "Traceback" in p.stderr and "RuntimeError" in p.stderr, "the traceback goes to worker.log"
    assert SECRET not in p.stdout + p.stderr + _recorded(run)


def test_a_failure_the_body_raises_is_recorded_as_it_says_redacted_with_the_run_named(run):
    p = _worker(run, "fail")
    assert p.returncode == 1
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "quota" and st["error"] == "quota used up for ***"
    err = run.events(("error",))[-1]
    assert err["kind"] == "quota" and err["detail"] == "x"
    assert err["advice"] == [f"raise the quota of {run.path}'s key ***"]
    assert SECRET not in _recorded(run)


def test_a_full_disk_is_the_disk_failure_not_a_crash(run):
    p = _worker(run, "disk")
    assert p.returncode == 1
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "disk" and st["error"].startswith("disk full:")
    assert any("free space" in a for a in run.events(("error",))[-1]["advice"])
    assert "Traceback" not in p.stderr


def test_sigterm_raised_where_the_body_is_ends_cancelled_when_a_cancel_asked(run):
    proc = _start(run, "wait", FT_RAISES="1")
    run.update_status(cancel_requested=True)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert run.status()["state"] == "cancelled"
    assert run.events(("status",))[-1]["state"] == "cancelled"
    assert not liveness.worker_running(run)


def test_sigterm_without_a_cancel_is_a_stop_to_resume(run):
    proc = _start(run, "wait", FT_RAISES="1")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    st = run.status()
    assert st["state"] == "failed" and st["error_kind"] == "stopped"
    assert f"ftwizard run --resume {run.path}" in st["error"]


def test_sigterm_sets_the_flag_a_polling_body_ends_on(run):
    proc = _start(run, "poll")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert run.status()["state"] == "cancelled"
    assert run.events(("status",))[-1]["detail"] == "stopped by SIGTERM"


def test_a_second_worker_on_the_same_run_is_refused_and_touches_nothing(run):
    proc = _start(run, "poll")
    try:
        before = (run.status_path.read_bytes(), run.events_path.read_bytes())
        p = _worker(run, "succeed")
        assert p.returncode == 2 and "still running" in p.stderr
        assert (run.status_path.read_bytes(), run.events_path.read_bytes()) == before
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert json.loads(run.status_path.read_text())["state"] == "cancelled"


def test_every_launcher_starts_an_entry_point_above_evaluation_on_the_one_scaffold():
    """The launchers name `ftwizard.workers.*` (which hand evaluation down to the backends' workers), and each
    backend worker is the one scaffold with its own body."""
    import importlib
    import importlib.util

    from ftwizard.backends import hosted, local
    from ftwizard.backends.hosted import tinker
    from ftwizard.backends.hosted.tinker_worker import TinkerWorker
    from ftwizard.backends.hosted.worker import HostedWorker
    from ftwizard.backends.local.worker import Worker
    from ftwizard.runs.worker import DetachedWorker

    for module in (local.WORKER_MODULE, hosted.WORKER_MODULE, tinker.WORKER_MODULE):
        assert module.startswith("ftwizard.workers.") and importlib.util.find_spec(module) is not None
        assert importlib.import_module(module).evaluate_after_training.__module__ == "ftwizard.evaluation.runner"
    for cls in (Worker, HostedWorker, TinkerWorker):
        assert issubclass(cls, DetachedWorker) and "lifecycle" not in vars(cls) and "main" not in vars(cls)


def test_a_worker_run_in_this_process_puts_back_the_signal_handlers_it_found(run):
    """The stop handlers are the process's: a worker run in another program's process (a test, an embedding) must
    not leave Ctrl-C meaning "stop a worker" there once its attempt has ended."""
    import signal

    from ftwizard.runs import liveness
    from ftwizard.runs.worker import DetachedWorker, Ended

    class Quick(DetachedWorker):
        who = "test worker"
        stop_signals = (signal.SIGINT, signal.SIGTERM)

        def running_fields(self):
            return {"backend": "test"}

        def body(self):
            assert signal.getsignal(signal.SIGINT) is self.stop  # its own handler while it works
            return Ended("succeeded", "done")

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with liveness.hold(run):
        assert Quick(run).lifecycle() == 0
    assert {s: signal.getsignal(s) for s in before} == before
    assert run.state == "succeeded"
