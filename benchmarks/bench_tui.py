"""The wizard's speed as a user feels it, measured through a real pseudo-terminal (what SSH gives the app).

1. First frame: time from spawning `ftwizard` until the first step's bar is on the terminal (target < 1 s).
2. Key-press-to-frame latency while a run streams 1,000 log lines per second into the view
   (`ftwizard attach RUN_DIR` on a fake trainer): press `f` (pause / follow the log) and time until the
   changed label reaches the terminal; the same measured with no stream, side by side.
3. Hardware step, key-to-frame of a knob: type a digit into the $/h box (or change the epochs) and time until
   the tables show the re-priced rows (the app driven headless by Textual's pilot, in this process), with the
   number of full estimates that knob change cost.

Run: .venv/bin/python benchmarks/bench_tui.py [--samples 20] [--only hardware]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FTWIZARD = str(Path(sys.executable).with_name("ftwizard"))


class Terminal:
    """A program on a pty of a given size; output is collected by a reader thread."""

    def __init__(self, argv: list[str], cols: int = 80, rows: int = 24, cwd: str | None = None):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor", FTWIZARD_THEME="textual-dark")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.marks: list[tuple[bytes, float]] = []
        self.stop = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            now = time.perf_counter()
            with self.lock:
                self.buf += chunk
                for i, (needle, t) in enumerate(self.marks):
                    if t == 0.0 and needle in self.buf:
                        self.marks[i] = (needle, now)

    def wait_for(self, needle: bytes, since: int = 0, timeout: float = 10.0) -> float:
        """Seconds from now until `needle` appears in output after byte `since`."""
        t0 = time.perf_counter()
        end = t0 + timeout
        while time.perf_counter() < end:
            with self.lock:
                idx = self.buf.find(needle, since)
            if idx >= 0:
                return time.perf_counter() - t0
            time.sleep(0.0005)
        raise TimeoutError(needle)

    def size(self) -> int:
        with self.lock:
            return len(self.buf)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        self.send(b"\x11")  # ctrl+q
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.stop = True


MINIMAL_APP = """
from textual.app import App
from textual.widgets import Static
class A(App):
    def compose(self):
        yield Static("1 Task > 2 Hardware")
A().run()
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (load on the machine does not change it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, list[float]] = {}


def first_frame(samples: int, argv: list[str] | None = None, label: str = "ftwizard") -> list[float]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(samples):
            term = Terminal(argv or [FTWIZARD], cwd=tmp)
            t0 = term.t0
            term.wait_for(b"Hardware", timeout=15)
            out.append(time.perf_counter() - t0)
            CPU.setdefault(label, []).append(cpu_seconds(term.proc.pid))
            term.close()
    return out


def key_latency(run_dir: str, samples: int) -> list[float]:
    term = Terminal([FTWIZARD, "attach", run_dir])
    term.wait_for(b"log: following", timeout=15)
    time.sleep(1.0)
    lat = []
    labels = [b"log: paused", b"log: following"]
    for i in range(samples):
        since = term.size()
        t0 = time.perf_counter()
        term.send(b"f")
        term.wait_for(labels[i % 2], since=since, timeout=10)
        lat.append(time.perf_counter() - t0)
        time.sleep(0.15)
    term.close()
    return lat


def make_run(tmp: str, log_rate: int) -> tuple[str, subprocess.Popen]:
    from ftwizard.recipe import load_recipe
    from ftwizard.runs.directory import RunDirectory

    recipe = load_recipe(REPO / "recipes" / "viggo-cpu-demo.toml")
    run = RunDirectory.create(Path(tmp) / "runs", recipe.name, recipe.to_toml())
    run.update_status(backend="local")
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_trainer.py"), str(run.path), "--steps",
                             "100000", "--step-time", "0.05", "--log-rate", str(log_rate)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return str(run.path), proc


def hardware_knob_latency(samples: int) -> dict[str, tuple[list[float], list[int]]]:
    """Seconds from a key in a Hardware-step knob to the re-priced tables, and the estimates each change ran."""
    import asyncio

    from ftwizard.recipe import load_recipe
    from ftwizard.tui import engine
    from ftwizard.tui.app import make_app
    from ftwizard.tui.state import WizardState

    calls = [0]
    real = engine.estimate

    def counting(recipe, **knobs):
        calls[0] += 1
        return real(recipe, **knobs)

    engine.estimate = counting
    out: dict[str, tuple[list[float], list[int]]] = {"price": ([], []), "epochs": ([], [])}

    async def drive(tmp: str) -> None:
        recipe = load_recipe(REPO / "recipes" / "sql-codellama34b-lora.toml")
        app = make_app(state=WizardState().with_recipe(recipe, choice="task:sql"), start_step=1,
                       runs_dir=Path(tmp) / "runs", hardware={"gpus": []})
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen

            async def settle(first, timeout: float = 600.0) -> None:
                end = time.perf_counter() + timeout
                while screen._last is first or screen._last[0] is None:
                    if time.perf_counter() > end:
                        raise TimeoutError("no new estimates")
                    await pilot.pause(0.01)
                await pilot.pause()  # the frame with the new rows

            await settle(None)
            await pilot.pause(1.0)
            for knob, keys in (("price", ["5", "backspace"]), ("epochs", ["2", "backspace"])):
                await pilot.click(f"#{knob}")
                for i in range(samples):
                    key = keys[i % 2]
                    first, n0 = screen._last, calls[0]
                    t0 = time.perf_counter()
                    await pilot.press(key)
                    await settle(first)
                    out[knob][0].append(time.perf_counter() - t0)
                    out[knob][1].append(calls[0] - n0)

    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            asyncio.run(drive(tmp))
        finally:
            os.chdir(cwd)
            engine.estimate = real
    return out


def summary(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return f"median {statistics.median(xs) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {xs[-1] * 1000:.0f} ms (n={len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--only", choices=["hardware"], default=None)
    a = ap.parse_args()

    if a.only == "hardware":
        for knob, (lat, n) in hardware_knob_latency(max(2, min(a.samples, 6))).items():
            print(f"Hardware step, {knob} key to re-priced frame: {summary(lat)}; estimates per change: "
                  f"{sorted(set(n))}")
        return 0

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    base, ff = [], []
    for _ in range(a.starts):  # interleaved, so both see the same machine load
        base += first_frame(1, [sys.executable, "-c", MINIMAL_APP], label="minimal")
        ff += first_frame(1)
    print(f"first frame after `ftwizard` starts: {summary(ff)}  (target < 1000 ms)")
    print(f"first frame of a minimal Textual app (one Static), same terminal: {summary(base)}; "
          f"ftwizard / minimal = {statistics.median(ff) / statistics.median(base):.2f}")
    print(f"CPU time to first frame (independent of machine load): ftwizard median "
          f"{statistics.median(CPU['ftwizard']) * 1000:.0f} ms, minimal Textual app "
          f"{statistics.median(CPU['minimal']) * 1000:.0f} ms")

    for rate in (0, 1000):
        with tempfile.TemporaryDirectory() as tmp:
            run_dir, proc = make_run(tmp, rate)
            try:
                time.sleep(0.5)
                t_start = time.time()
                lat = key_latency(run_dir, a.samples)
                t_end = time.time()
                from ftwizard.runs.directory import RunDirectory

                logs = [e for e in RunDirectory(run_dir).iter_events(("log",)) if t_start <= e["t"] <= t_end]
                rate_seen = len(logs) / max(1e-9, t_end - t_start)
            finally:
                proc.terminate()
                proc.wait(timeout=5)
            print(f"key-press-to-frame, stream of {rate} log lines/s (measured {rate_seen:,.0f}/s): {summary(lat)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
