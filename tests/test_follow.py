"""follow.py: a real writer process, the real run directory, Ctrl-C delivered as a real SIGINT."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from rich.console import Console

from ftwizard.follow import follow
from ftwizard.runs.directory import RunDirectory

WRITER = textwrap.dedent("""
    import sys, time, signal
    from ftwizard.runs.directory import RunDirectory
    run = RunDirectory(sys.argv[1]); steps = int(sys.argv[2]); final = sys.argv[3]; delay = float(sys.argv[4])
    stop = {"v": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__("v", True))
    run.update_status(state="running")
    run.log("worker started")
    for s in range(1, steps + 1):
        if stop["v"]:
            run.log("saving before stopping"); run.update_status(state="cancelled"); sys.exit(0)
        run.append_event("metric", step=s, max_steps=steps, loss=3.0 - s * 0.1, eta_s=(steps - s) * delay,
                         cost_usd=0.01 * s, tokens_per_s=1000.0)
        time.sleep(delay)
    if final == "die":
        sys.exit(3)
    if final == "failed":
        run.append_event("error", message="out of memory", kind="oom", advice=["use a smaller micro-batch"])
    run.update_status(state=final, **({"error": "out of memory"} if final == "failed" else {}))
""")


def _console():
    buf = io.StringIO()
    return Console(file=buf, width=120, force_terminal=False, highlight=False), buf


def _start(tmp_path, steps=5, final="succeeded", delay=0.02):
    run = RunDirectory.create(tmp_path, "t", 'name = "t"\ntask = "viggo"\n')
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(run.path), str(steps), final, str(delay)],
                         start_new_session=True)
    return run, p


def test_follow_reports_success_and_echoes_logs(tmp_path):
    run, p = _start(tmp_path, steps=6)
    con, buf = _console()
    code = follow(run, is_alive=lambda: p.poll() is None, console=con, interval=0.05)
    p.wait()
    out = buf.getvalue()
    assert code == 0
    assert "worker started" in out
    assert "run succeeded" in out
    assert "6/6" in out


def test_follow_failed_run_prints_error_and_advice(tmp_path):
    run, p = _start(tmp_path, steps=2, final="failed")
    con, buf = _console()
    code = follow(run, is_alive=lambda: p.poll() is None, console=con, interval=0.05)
    p.wait()
    out = buf.getvalue()
    assert code == 1
    assert "out of memory" in out and "smaller micro-batch" in out


def test_follow_notices_a_dead_worker(tmp_path):
    run, p = _start(tmp_path, steps=2, final="die")
    con, buf = _console()
    t0 = time.time()
    code = follow(run, is_alive=lambda: p.poll() is None, console=con, interval=0.05)
    assert code == 1
    assert time.time() - t0 < 15
    assert "--resume" in buf.getvalue()


def _sigint_soon(delay=0.4):
    threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGINT)).start()


def test_ctrl_c_detach_leaves_the_run_going(tmp_path):
    run, p = _start(tmp_path, steps=40, delay=0.05)
    con, buf = _console()
    asked = []
    _sigint_soon()
    code = follow(run, is_alive=lambda: p.poll() is None, cancel=lambda: p.terminate(),
                  ask=lambda c: asked.append(1) or "detach", console=con, interval=0.05)
    assert code == 130 and asked == [1]
    assert p.poll() is None, "detaching must not stop the run"
    assert "attach" in buf.getvalue()
    p.wait(timeout=30)
    assert run.state == "succeeded"


def test_ctrl_c_cancel_waits_for_cancelled(tmp_path):
    run, p = _start(tmp_path, steps=200, delay=0.05)
    con, buf = _console()
    _sigint_soon()
    code = follow(run, is_alive=lambda: p.poll() is None, cancel=lambda: p.send_signal(signal.SIGTERM),
                  ask=lambda c: "cancel", console=con, interval=0.05)
    p.wait(timeout=10)
    assert code == 130
    assert run.state == "cancelled"
    assert "run cancelled" in buf.getvalue()


def test_a_log_file_gets_progress_lines_with_eta(tmp_path, monkeypatch):
    """nohup / CI: stderr is a file, where rich draws no live bar; the progress still reaches it as lines with the
    step, the percentage, the loss and the ETA, at most one per PLAIN_EVERY_S for each bar."""
    import ftwizard.follow as fol
    from ftwizard.follow import Follower

    run = RunDirectory(tmp_path / "r")  # display only: nothing is read from it
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    clock = [0.0]
    f = Follower(run, console=console, clock=lambda: clock[0])
    monkeypatch.setattr(fol.time, "monotonic", lambda: clock[0])
    for step in range(1, 11):
        clock[0] += 10.0  # a metric every 10 s: a line at most every 30 s
        f.handle({"t": clock[0], "type": "metric", "step": step, "max_steps": 10, "loss": 1.0 / step,
                  "eta_s": 10.0 * (10 - step)})
    f.handle({"type": "eval", "phase": "start", "done": 0, "total": 4, "which": "finetuned"})
    lines = [x for x in out.getvalue().splitlines() if x.startswith("training:")]
    assert lines[0].startswith("training: 1/10 (10%)  loss 1.000") and "ETA 1:30" in lines[0], lines
    assert len(lines) == 4, lines  # steps 1, 4, 7, 10
    assert "eval finetuned: 0/4 (0%)" in out.getvalue()
    # on a terminal the live bar says it all: no extra lines
    term = io.StringIO()
    f2 = Follower(run, console=Console(file=term, force_terminal=True, width=100))
    f2.handle({"type": "metric", "step": 1, "max_steps": 10, "loss": 1.0, "eta_s": 90.0})
    assert "training: 1/10" not in term.getvalue()
