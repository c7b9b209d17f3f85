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
from ftwizard.runs.directory import FINAL_STATES, RunDirectory
from ftwizard.runs.events import Eval, Event, Line, Metric, Progress, Tail, fold, fold_status, from_dict, line
from ftwizard.runs.failures import Failure
from ftwizard.usecases.failures import failure_of

STATE_EXIT = {"succeeded": int(ExitCode.OK), "failed": int(ExitCode.RUN_FAILED), "cancelled": int(ExitCode.INTERRUPTED)}

# How long a run may look dead (no process, no final state) before we call it gone: the worker writes its
# final status just before it exits, so one missed poll is not enough evidence.
DEAD_GRACE_S = 2.0


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
INFO = ("epoch", "loss", "eval_loss", "tokens_per_s", "cost", "mem")  # beside the bar (step and ETA have columns)


class Follower:
    """Shows a run's `Progress` (`ftwizard.runs.events.fold`, the figures the wizard shows too) as a progress bar,
    and each event's line. It formats nothing of its own: every figure is `Progress.figures`."""

    def __init__(self, run: RunDirectory, *, console=None, clock: Callable[[], float] = time.time):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        if console is None:
            from ftwizard.cli.output import err

            console = err()
        self.run = run
        self.console = console
        self.clock = clock
        self.p = Progress()
        self.progress = Bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=console,
            transient=False,
            refresh_per_second=4,
        )
        self.train_task = None
        self.eval_task = None
        # stderr that is not a terminal (nohup, CI, a pipe) shows no live bar: the same figures go out as a line
        # at most every PLAIN_EVERY_S, so a log file still says where the run is and when it will end
        self.plain = not console.is_terminal
        self._plain_last: dict[str, float] = {}

    # -- display --------------------------------------------------------------------------
    def _print(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, markup=True)

    def handle(self, ev: "Event | dict[str, Any]") -> None:
        """Fold one event in and show it (a dict is read as the line on disk would be)."""
        if isinstance(ev, dict):
            ev = from_dict(ev)
            if ev is None:
                return
        self.p = fold(self.p, ev)
        if isinstance(ev, Metric) or self.train_task is not None:  # e.g. a cost event changes the dollars shown
            self._show_training(line=isinstance(ev, Metric))
        if isinstance(ev, Eval):
            self._show_eval(ev)
        self._echo(line(ev))

    def handle_status(self, status: dict[str, Any]) -> None:
        self.p = fold_status(self.p, status)

    def _echo(self, ln: "Line | None") -> None:
        from rich.markup import escape

        if ln is None:
            return
        text = escape(ln.text)
        if ln.level == "warning":
            self._print(f"[yellow]warning:[/yellow] {text}")
        elif ln.level == "error":
            self._print(f"[bold red]error:[/bold red] {text}")
        elif ln.level == "status":
            self._print(f"[bold]{text}[/bold]")
        elif ln.level == "result":
            self._print(text)
        else:
            self._print(f"[dim]{text}[/dim]")
        for more in ln.more:
            self._print(f"  - {escape(more)}")

    def _show_training(self, *, line: bool = True, force: bool = False) -> None:
        figs = self.p.figures(self.clock())
        info = " ".join(figs[k] for k in INFO if k in figs)
        eta = figs.get("eta", "")
        if self.train_task is None:
            self.train_task = self.progress.add_task("training", total=self.p.max_steps or None, info="", eta="")
        done = self.p.max_steps if self.p.state == "succeeded" and self.p.max_steps else self.p.step
        self.progress.update(self.train_task, completed=done, total=self.p.max_steps or None, info=info, eta=eta)
        if line:
            self._plain_line("training", done, self.p.max_steps, info, eta, force=force)

    def _show_eval(self, ev: "Eval") -> None:
        if ev.phase == "start" or self.eval_task is None:
            if self.eval_task is not None:
                self.progress.remove_task(self.eval_task)
            self.eval_task = self.progress.add_task(f"eval {ev.which}", total=self.p.eval_total or None,
                                                    info="", eta="")
        self.progress.update(self.eval_task, completed=self.p.eval_done, total=self.p.eval_total or None)
        if ev.phase != "done":
            self._plain_line(f"eval {ev.which}", self.p.eval_done, self.p.eval_total, "", "")

    def _plain_line(self, what: str, done: int, total: int | None, info: str, eta: str, force: bool = False) -> None:
        now = time.monotonic()
        if not self.plain or (not force and now - self._plain_last.get(what, -PLAIN_EVERY_S) < PLAIN_EVERY_S):
            return
        self._plain_last[what] = now
        of = f"/{total} ({100 * done / total:.0f}%)" if total else ""
        self.console.print(f"{what}: {done}{of}" + (f"  {info}" if info else "") + (f"  {eta}" if eta else ""),
                           highlight=False, markup=False)

    def tick(self) -> None:
        if self.train_task is not None:
            self.progress.update(self.train_task, eta=self.p.figures(self.clock()).get("eta", ""))

    def show_failure(self, failure: "Failure | None") -> None:
        """What went wrong and the next action, from the one table (`ftwizard.runs.failures`). The worker's
        message and advice were echoed with its error event; a failure without one (a gone worker, a cancel)
        says its headline here."""
        from rich.markup import escape

        if failure is None:
            return
        if failure.kind in ("gone", "eval"):
            self.console.print(f"[bold red]error:[/bold red] {escape(failure.lines()[0])}", highlight=False)
        self.console.print(f"[bold]next:[/bold] {escape(failure.next)}", highlight=False)

    def finish(self) -> None:
        """The run ended: the bar (or, in a log file, one last line) shows its final figures."""
        if self.train_task is not None:
            self._show_training(force=True)


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
    from rich.markup import escape

    f = Follower(run, console=console)
    ask = ask or _ask_tty
    tail = Tail(run)
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
                f.handle_status(status)
                if state in FINAL_STATES:
                    for ev in tail.poll():  # what was written just before the final status
                        f.handle(ev)
                    f.handle_status(status)
                    f.finish()
                    f.progress.stop()
                    msg = {"succeeded": "[green]run succeeded[/green]",
                           "failed": "[red]run failed[/red]",
                           "cancelled": "[yellow]run cancelled[/yellow]"}[state]
                    err = status.get("error")
                    f.console.print(msg + (f": {escape(str(err))}" if err and state == "failed" else "")
                                    + f"  ({run.path})", highlight=False)
                    f.show_failure(failure_of(run, f.p))
                    if tail.skipped:  # said, never a crash: the events around them counted
                        f.console.print(f"note: {tail.skipped} damaged line(s) in {run.events_path} were skipped",
                                        highlight=False, markup=False)
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
                        f.show_failure(failure_of(run, f.p, gone=True))
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
