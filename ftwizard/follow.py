"""Headless following of any run directory: a progress bar with ETA on stderr, log lines echoed, the exit code.

It reads only the run directory (events.jsonl by offset, status.json), so it works the same for a local
worker, a hosted job follower, or a run started by someone else. Backends pass callbacks:

    follow(run, is_alive=lambda: backend.is_alive(run), cancel=lambda: backend.cancel(run))

Ctrl-C asks "detach or cancel?": detaching leaves the run going (exit 130, with the command to come back);
cancelling calls `cancel` and keeps following until the run has saved and marked itself `cancelled`.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

from ftwizard.errors import ExitCode
from ftwizard.fmt import usd
from ftwizard.runs.directory import FINAL_STATES, EventTail, RunDirectory

STATE_EXIT = {"succeeded": int(ExitCode.OK), "failed": int(ExitCode.RUN_FAILED), "cancelled": int(ExitCode.INTERRUPTED)}

# How long a run may look dead (no process, no final state) before we call it gone: the worker writes its
# final status just before it exits, so one missed poll is not enough evidence.
DEAD_GRACE_S = 2.0


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "-:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _ask_tty(console) -> str:
    """'detach' or 'cancel', asked on the terminal; without one (nohup, CI) we detach: never kill silently."""
    if not sys.stdin or not sys.stdin.isatty():
        return "detach"
    while True:
        try:
            console.print("[bold]Ctrl-C:[/bold] [d]etach (the run goes on) or [c]ancel the run? [d/c] ", end="")
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            console.print()
            return "detach"
        if not answer:  # EOF
            return "detach"
        a = answer.strip().lower()
        if a in ("d", "detach", ""):
            return "detach"
        if a in ("c", "cancel"):
            return "cancel"


PLAIN_EVERY_S = 30.0  # seconds between two progress lines when stderr is not a terminal


class Follower:
    """Turns run-directory events into a progress bar and echoed lines. `handle()` is pure display logic."""

    def __init__(self, run: RunDirectory, *, console=None, quiet_metrics: bool = True):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if console is None:
            from ftwizard.cli.output import err

            console = err()
        self.run = run
        self.console = console
        self.quiet_metrics = quiet_metrics
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
            transient=False,
            refresh_per_second=4,
        )
        self.train_task = None
        self.eval_task = None
        self.last_metric: dict[str, Any] = {}
        self.last_eta: tuple[float, float] | None = None  # (eta_s, when received)
        self.events_seen = 0
        self.errors: list[dict[str, Any]] = []
        self.state: str | None = None
        # stderr that is not a terminal (nohup, CI, a pipe) shows no live bar: the same figures go out as a line
        # at most every PLAIN_EVERY_S, so a log file still says where the run is and when it will end
        self.plain = not console.is_terminal
        self._plain_last: dict[str, float] = {}

    # -- display --------------------------------------------------------------------------
    def _print(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, markup=True)

    def _eta_text(self) -> str:
        if self.last_eta is None:
            return "-:--"
        eta, when = self.last_eta
        return fmt_duration(max(0.0, eta - (time.time() - when)))

    def _ensure_train_task(self, total: int | None) -> None:
        if self.train_task is None:
            self.train_task = self.progress.add_task("training", total=total or None, info="", eta="-:--")
        elif total:
            self.progress.update(self.train_task, total=total)

    def handle(self, ev: dict[str, Any]) -> None:
        from rich.markup import escape

        self.events_seen += 1
        kind = ev.get("type")
        if kind == "metric":
            self.last_metric = {**self.last_metric, **ev}
            self._ensure_train_task(ev.get("max_steps"))
            if ev.get("eta_s") is not None:
                self.last_eta = (float(ev["eta_s"]), time.time())
            parts = []
            m = self.last_metric
            if m.get("loss") is not None:
                parts.append(f"loss {m['loss']:.4f}")
            if m.get("eval_loss") is not None:
                parts.append(f"eval {m['eval_loss']:.4f}")
            if m.get("tokens_per_s"):
                parts.append(f"{m['tokens_per_s']:,.0f} tok/s")
            if m.get("gpu_mem_gb"):
                parts.append(f"{m['gpu_mem_gb']:.1f} GiB")
            if m.get("cost_usd") is not None:
                parts.append(usd(m["cost_usd"]))
            self.progress.update(self.train_task, completed=ev.get("step") or 0, info=" ".join(parts),
                                 eta=self._eta_text())
            self._plain_line("training", ev.get("step") or 0, m.get("max_steps"), " ".join(parts), self._eta_text())
            if ev.get("eval_loss") is not None:
                self._print(f"step {ev.get('step')}: eval loss {ev['eval_loss']:.4f}")
            elif not self.quiet_metrics and ev.get("loss") is not None:
                self._print(f"step {ev.get('step')}: loss {ev['loss']:.4f}")
        elif kind == "log":
            level = ev.get("level", "info")
            text = escape(str(ev.get("text", "")))
            if level == "warning":
                self._print(f"[yellow]warning:[/yellow] {text}")
            elif level == "error":
                self._print(f"[red]{text}[/red]")
            else:
                self._print(f"[dim]{text}[/dim]")
        elif kind == "error":
            self.errors.append(ev)
            self._print(f"[bold red]error:[/bold red] {escape(str(ev.get('message', '')))}")
            for a in ev.get("advice") or []:
                self._print(f"  - {escape(str(a))}")
        elif kind == "status":
            self.state = ev.get("state") or self.state
            detail = f" ({escape(str(ev['detail']))})" if ev.get("detail") else ""
            self._print(f"[bold]{escape(str(ev.get('state')))}[/bold]{detail}")
        elif kind == "eval":
            which = ev.get("which", "finetuned")
            phase = ev.get("phase")
            if phase == "start" or self.eval_task is None:
                if self.eval_task is not None:
                    self.progress.remove_task(self.eval_task)
                self.eval_task = self.progress.add_task(f"eval {which}", total=ev.get("total") or None,
                                                        info="", eta="")
            self.progress.update(self.eval_task, completed=ev.get("done") or 0,
                                 total=ev.get("total") or None)
            if phase != "done":
                self._plain_line(f"eval {which}", ev.get("done") or 0, ev.get("total"), "", "")
            if phase == "done":
                shown = {k: v for k, v in ev.items() if k not in ("t", "type", "phase", "done", "total", "which")}
                vals = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
                self._print(f"eval {escape(which)}: {escape(vals)}")
        elif kind == "cost":
            self._print(f"cost ({escape(str(ev.get('kind', '')))} {escape(str(ev.get('what', '')))}): "
                        + usd(float(ev.get("usd") or 0)) + (f" - {escape(str(ev['detail']))}" if ev.get("detail") else ""))

    def _plain_line(self, what: str, done: int, total: int | None, info: str, eta: str) -> None:
        now = time.monotonic()
        if not self.plain or now - self._plain_last.get(what, -PLAIN_EVERY_S) < PLAIN_EVERY_S:
            return
        self._plain_last[what] = now
        of = f"/{total} ({100 * done / total:.0f}%)" if total else ""
        self.console.print(f"{what}: {done}{of}" + (f"  {info}" if info else "") + (f"  ETA {eta}" if eta else ""),
                           highlight=False, markup=False)

    def tick(self) -> None:
        if self.train_task is not None:
            self.progress.update(self.train_task, eta=self._eta_text())


def follow(
    run: RunDirectory,
    *,
    is_alive: Callable[[], bool] | None = None,
    cancel: Callable[[], None] | None = None,
    ask: Callable[[Any], str] | None = None,
    console=None,
    interval: float = 0.5,
    from_start: bool = True,
    timeout: float | None = None,
    resume_hint: str | None = None,
) -> int:
    """Follow `run` until it reaches a final state; returns its exit code (0 / 1 / 130).

    is_alive: whether the process behind the run still lives (None: trust status.json only).
    cancel:   asks the run to stop (called after the user chooses "cancel" at Ctrl-C).
    ask:      how Ctrl-C asks the user; returns "detach" or "cancel" (default: a prompt on the terminal).
    from_start: replay the events already written (attach to a running run shows its history).
    timeout:  stop following after this many seconds (returns 130, the run goes on) - for scripts and tests.
    """
    f = Follower(run, console=console)
    ask = ask or _ask_tty
    tail = EventTail(run)
    if not from_start:
        try:
            tail.offset = run.events_path.stat().st_size
        except FileNotFoundError:
            pass
    detach_msg = (f"detached; the run goes on. Follow it again with `ftwizard attach {run.path}`"
                  + (f"; {resume_hint}" if resume_hint else ""))
    started = time.time()
    dead_since: float | None = None
    cancelling = False
    f.progress.start()
    try:
        while True:
            try:
                for ev in tail.poll():
                    f.handle(ev)
                status = run.status()
                state = status.get("state")
                if state in FINAL_STATES:
                    for ev in tail.poll():  # what was written just before the final status
                        f.handle(ev)
                    if f.train_task is not None and state == "succeeded" and f.last_metric.get("max_steps"):
                        f.progress.update(f.train_task, completed=f.last_metric["max_steps"], eta="0:00")
                    f.progress.stop()
                    msg = {"succeeded": "[green]run succeeded[/green]",
                           "failed": "[red]run failed[/red]",
                           "cancelled": "[yellow]run cancelled[/yellow]"}[state]
                    err = status.get("error")
                    f.console.print(msg + (f": {err}" if err and state == "failed" else "") + f"  ({run.path})",
                                    highlight=False)
                    return STATE_EXIT[state]
                if is_alive is not None and not is_alive():
                    now = time.time()
                    dead_since = dead_since or now
                    if now - dead_since >= DEAD_GRACE_S:
                        for ev in tail.poll():
                            f.handle(ev)
                        if run.status().get("state") in FINAL_STATES:
                            continue
                        f.progress.stop()
                        f.console.print(
                            f"[bold red]error:[/bold red] the run's process is gone without finishing "
                            f"(state {state or 'unknown'}); continue it with `ftwizard run --resume {run.path}` "
                            "(from its last checkpoint, or the recorded job)", highlight=False)
                        return int(ExitCode.RUN_FAILED)
                else:
                    dead_since = None
                if timeout is not None and time.time() - started > timeout:
                    f.progress.stop()
                    f.console.print(detach_msg, highlight=False)
                    return int(ExitCode.INTERRUPTED)
                f.tick()
                time.sleep(interval)
            except KeyboardInterrupt:
                f.progress.stop()
                if cancelling or cancel is None:
                    f.console.print(detach_msg, highlight=False)
                    return int(ExitCode.INTERRUPTED)
                choice = ask(f.console)
                if choice == "cancel":
                    cancelling = True
                    f.console.print("cancelling: the run saves a checkpoint and stops "
                                    "(Ctrl-C again to stop waiting)", highlight=False)
                    cancel()
                    f.progress.start()
                    continue
                f.console.print(detach_msg, highlight=False)
                return int(ExitCode.INTERRUPTED)
    finally:
        f.progress.stop()
