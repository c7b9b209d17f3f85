"""A run's worker is recognised exactly, whatever the clock does, and a live run never gets a second worker.

The kernel's boot-time figure (psutil's `boot_time()`, /proc/stat `btime`) moves with the wall clock; psutil's
`create_time()` on Linux is that figure plus the process's start ticks, so it drifts too. These tests move it by
2 s, as NTP did on the machine where a 1 s tolerance gave false "process gone" exits and a second worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ftwizard.runs import liveness
from ftwizard.runs.directory import RunDirectory

ROOT = Path(__file__).resolve().parent.parent
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the drift is Linux's (psutil reads "
                                "boot time there); elsewhere psutil's create_time is the kernel's own record")


@pytest.fixture
def drift(monkeypatch):
    """psutil's Linux boot time, moved later by `seconds` (what an NTP step does to /proc/stat btime)."""
    import psutil._pslinux as pslinux

    real = pslinux.boot_time

    def move(seconds: float) -> None:
        monkeypatch.setattr(pslinux, "boot_time", lambda: real() + seconds)

    return move


@pytest.fixture
def live_local_run(tmp_path, monkeypatch):
    """A local run launched through LocalBackend.launch, whose 'worker' sleeps (no torch needed)."""
    import ftwizard.backends.local as local

    monkeypatch.setattr(local, "worker_command", lambda *args, **kwargs: list(SLEEPER))
    monkeypatch.setattr(local.LocalBackend, "preflight", lambda self, recipe: None)
    run = RunDirectory.create(tmp_path / "runs", "demo", (ROOT / "recipes" / "viggo-cpu-demo.toml").read_text())
    backend = local.LocalBackend()
    proc = backend.launch(run, run.recipe())
    run.update_status(state="running")
    yield run, backend, proc
    for p in psutil.Process().children(recursive=True):
        p.kill()
    proc.wait(timeout=10)


def test_a_live_worker_stays_alive_when_the_boot_time_drifts(live_local_run, drift):
    run, backend, proc = live_local_run
    assert backend.is_alive(run)
    before = psutil.Process(proc.pid).create_time()
    drift(2.0)
    assert psutil.Process(proc.pid).create_time() - before == pytest.approx(2.0), "psutil's figure moved"
    assert backend.is_alive(run), "2 s of clock drift made a live worker look gone"
    assert backend._process(run) == proc.pid, "the pid is still recognised as the worker (for cancel)"


def test_a_dead_worker_is_gone_at_once_and_its_reused_pid_is_not_it(live_local_run):
    run, backend, proc = live_local_run
    proc.kill()
    proc.wait(timeout=10)
    assert not backend.is_alive(run), "the kernel let go of the lock with the process"
    # Another process now under the recorded pid (as a reused pid would be): its start ticks differ. A real reuse
    # needs the pid counter to wrap, never within one clock tick (10 ms) of the worker's start; on a quiet machine
    # this test can start both inside one tick, so it waits out two.
    time.sleep(0.03)
    other = subprocess.Popen(SLEEPER)
    try:
        st = dict(run.status(), pid=other.pid)
        assert liveness.same_process(st) is None
    finally:
        other.kill()
        other.wait()


def test_a_second_resume_of_a_live_run_is_refused(live_local_run, drift, capsys, monkeypatch):
    from ftwizard.cli.main import entry

    run, backend, proc = live_local_run
    drift(2.0)
    before = run.status()
    monkeypatch.setattr(sys, "argv", ["ftwizard", "run", "--resume", str(run.path), "--detach"])
    with pytest.raises(SystemExit) as exit_:
        entry()
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert "still running" in err and str(run.path) in err
    live = [p for p in psutil.Process().children(recursive=True) if p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]
    assert [p.pid for p in live] == [proc.pid], "no second worker was started"
    after = run.status()
    assert (after["state"], after["pid"]) == (before["state"], before["pid"]), "the live run's status is untouched"


def test_a_worker_started_by_hand_on_a_live_run_refuses_to_start(live_local_run):
    run, backend, proc = live_local_run
    env = {k: v for k, v in os.environ.items() if k != "FTWIZARD_WORKER_LOCK_FD"}
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.run([sys.executable, "-m", "ftwizard.workers.hosted", str(run.path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "still running" in p.stderr
    assert run.status()["pid"] == proc.pid


def test_the_worker_holds_the_lock_from_its_first_instruction(tmp_path):
    """Launched through `spawn`, a worker holds the run before it has run a line of Python: there is no window
    in which a second launcher sees the run free."""
    run = RunDirectory.create(tmp_path / "runs", "demo", (ROOT / "recipes" / "viggo-cpu-demo.toml").read_text())
    with open(run.path / "worker.log", "ab") as log:
        # A worker that takes long to start (it sleeps before anything else).
        proc = liveness.spawn(run, [sys.executable, "-c", "import time; time.sleep(120)"], log=log)
    try:
        assert liveness.worker_running(run)
        with pytest.raises(liveness.WorkerRunning):
            with open(run.path / "worker.log", "ab") as log:
                liveness.spawn(run, list(SLEEPER), log=log)
        st = run.status()
        assert st["pid"] == proc.pid and st["pid_start_ticks"] == liveness.start_ticks(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 5
    while liveness.worker_running(run) and time.time() < deadline:
        time.sleep(0.05)
    assert not liveness.worker_running(run)


def test_start_ticks_reads_field_22_past_a_command_name_with_spaces_and_parens(tmp_path):
    script = tmp_path / "a b) c"
    script.write_text("import time; time.sleep(60)\n")
    exe = tmp_path / "py) x"
    exe.symlink_to(sys.executable)
    p = subprocess.Popen([str(exe), str(script)])
    try:
        time.sleep(0.2)
        ticks = liveness.start_ticks(p.pid)
        expect = psutil.Process(p.pid).create_time(monotonic=True) if "monotonic" in \
            psutil.Process.create_time.__code__.co_varnames else None
        assert isinstance(ticks, int) and ticks > 0
        if expect is not None:
            assert abs(ticks / os.sysconf("SC_CLK_TCK") - expect) < 1e-6
    finally:
        p.kill()
        p.wait()


def test_runs_shows_a_killed_run_as_gone_not_running(live_local_run, capsys):
    from ftwizard.runlist import list_runs

    run, backend, proc = live_local_run
    (live,), _ = list_runs(run.path.parent)
    assert live.state == "running"
    proc.kill()
    proc.wait(timeout=10)
    (gone,), _ = list_runs(run.path.parent)
    assert gone.state == "gone" and any(f"ftwizard run --resume {run.path}" in n for n in gone.notes)
