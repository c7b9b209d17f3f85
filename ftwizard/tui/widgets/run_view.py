"""The live view of one or more runs: a progress line per run, the loss plot, and the log pane.

Fed from the run directories only (never from the training process), so `ftwizard attach` rebuilds the same view.
A thread polls events.jsonl and status.json; the UI takes batches a few times a second (the Log is written in
batches; the plot redraws only when its data changed)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Log, ProgressBar, Static

from ftwizard.runs.directory import RunDirectory
from ftwizard.runs.events import Event, Progress, Watch, line
from ftwizard.runs.failures import Failure
from ftwizard.tui import engine
from ftwizard.tui.widgets.loss_plot import LossPlot

POLL_S = 0.2
PLOT_REDRAW_S = 0.5
LOG_MAX_LINES = 5000


def log_lines(ev: Event) -> list[str]:
    """An event's line (`ftwizard.runs.events.line`, the text the CLI echoes too) as the log pane shows it."""
    ln = line(ev)
    if ln is None:
        return []
    prefix = {"warning": "WARNING: ", "error": "ERROR: ", "status": "-- "}.get(ln.level, "")
    return [prefix + t for t in ln.text.splitlines() or [""]] + [f"  - {a}" for a in ln.more]


@dataclass
class RunSnapshot:
    path: str
    progress: Progress
    lines: list[str]
    gone: bool = False  # the worker's process is not running any more (and the run is not finished)
    failure: Failure | None = None  # what went wrong and the next action (`ftwizard.runs.failures`)


class RunsUpdate(Message):
    def __init__(self, snapshots: list[RunSnapshot]):
        super().__init__()
        self.snapshots = snapshots


class RunRow(Horizontal):
    """`1 viggo-cpu-demo-2026...  running | step 12/40 | loss 1.23 | ETA 20s | $0.01 so far` + a bar."""

    def __init__(self, label: str, path: str):
        super().__init__(classes="run-row")
        self.label = label
        self.path = path

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="run-label")
        yield ProgressBar(total=100, show_eta=False, show_percentage=False, classes="run-bar")
        yield Static("", classes="run-summary")

    def show(self, snap: RunSnapshot) -> None:
        p = snap.progress
        bar = self.query_one(ProgressBar)
        bar.update(total=100, progress=round(p.fraction * 100, 1))
        text = p.summary(time.time())
        if snap.gone:
            text += " | worker not running"
        self.query_one(".run-summary", Static).update(text)
        for state in ("running", "succeeded", "failed", "cancelled", "pending"):
            self.set_class(p.state == state, f"-{state}")


class RunsView(Widget):
    """Follows run directories; `add_run(path)` starts following another."""

    # At 80x24 the plot keeps 8 rows of curve (13 with its frame, axis and border) and the log the rest; wider and
    # taller terminals put them side by side.
    DEFAULT_CSS = """
    RunsView { layout: vertical; height: 1fr; }
    RunsView #runs-rows { height: auto; max-height: 5; }
    RunsView .run-row { height: 1; }
    RunsView .run-label { width: 12; }
    RunsView .run-bar { width: 12; }
    RunsView .run-bar Bar { width: 10; }
    RunsView .run-summary { width: 1fr; }
    RunsView #runs-panes { height: 1fr; }
    RunsView.-narrow #runs-panes { layout: vertical; }
    RunsView #run-error { height: auto; max-height: 4; display: none; color: $error; padding: 0 1; }
    RunsView #run-error.-shown { display: block; }
    RunsView LossPlot { width: 1fr; }
    RunsView Log { width: 1fr; }
    RunsView.-narrow LossPlot { height: 1fr; min-height: 13; }
    RunsView.-narrow Log { height: 1fr; min-height: 4; overflow-x: hidden; }
    """

    def __init__(self, paths: list[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.paths: list[str] = list(paths or [])
        self.progress: dict[str, Progress] = {}
        self.failures: dict[str, Failure | None] = {}
        self.follow_log = True
        self.lines_seen = 0

    def compose(self) -> ComposeResult:
        yield Vertical(id="runs-rows")
        yield Static("", id="run-error")
        with Horizontal(id="runs-panes"):
            yield LossPlot(id="loss-plot")
            yield Log(max_lines=LOG_MAX_LINES, id="run-log", auto_scroll=False)

    def on_resize(self) -> None:
        # narrow terminals stack the plot over the log: side by side, each would be too narrow to read
        self.set_class(self.size.width < 110, "-narrow")
        self._follow_tail()

    def _follow_tail(self) -> None:
        """Show the log's last lines (after the next layout: a pane not laid out yet has nothing to scroll)."""
        if self.follow_log:
            self.query_one("#run-log", Log).scroll_end(animate=False, x_axis=False)

    def on_mount(self) -> None:
        self.query_one("#run-log", Log).border_title = "log"
        self.query_one("#loss-plot").border_title = "loss by step (train, eval)"
        rows = self.query_one("#runs-rows")
        for i, p in enumerate(self.paths):
            rows.mount(RunRow(self._label(i, p), p))
        self._show_log_state()
        self.set_interval(PLOT_REDRAW_S, self.query_one(LossPlot).redraw_if_dirty)
        self._follow()

    def _label(self, i: int, path: str) -> str:
        return f"{i + 1} {RunDirectory(path).status().get('backend') or 'run'}"

    def add_run(self, path: str) -> None:
        if path in self.paths:
            return
        self.paths.append(path)
        self.query_one("#runs-rows").mount(RunRow(self._label(len(self.paths) - 1, path), path))

    def toggle_follow(self) -> bool:
        self.follow_log = not self.follow_log
        self._follow_tail()
        self._show_log_state()
        return self.follow_log

    def _show_log_state(self) -> None:
        self.query_one("#run-log", Log).border_subtitle = (
            "log: following (f pauses)" if self.follow_log else "log: paused (f follows)")

    # -- the polling thread ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def _follow(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        watches: dict[str, Watch] = {}
        sent: dict[str, Progress] = {}
        explained: dict[str, tuple] = {}  # path -> (progress, gone, its failure): asked once per change
        last_alive_check = 0.0
        gone: dict[str, bool] = {}
        while not worker.is_cancelled:
            t0 = time.monotonic()
            snaps = []
            check_alive = t0 - last_alive_check > 2.0
            if check_alive:
                last_alive_check = t0
            for path in list(self.paths):
                w = watches.get(path)
                if w is None:
                    w = watches[path] = Watch(RunDirectory(path))
                lines = [text for ev in w.poll() for text in log_lines(ev)]
                if check_alive:
                    gone[path] = engine.worker_gone(w.run, w.run.status())
                if lines or w.progress is not sent.get(path) or check_alive:
                    sent[path] = p = w.progress  # immutable: the UI thread may keep it as it is
                    is_gone = gone.get(path, False)
                    prev = explained.get(path)
                    if prev is None or prev[0] is not p or prev[1] != is_gone:  # the resume rule reads the recipe
                        failure = engine.failure_of(w.run, p, gone=is_gone) if (
                            p.finished or p.eval_error or is_gone) else None
                        explained[path] = prev = (p, is_gone, failure)
                    snaps.append(RunSnapshot(path, p, lines, is_gone, prev[2]))
            if snaps and not worker.is_cancelled:
                self.post_message(RunsUpdate(snaps))
            elapsed = time.monotonic() - t0
            time.sleep(max(0.02, POLL_S - elapsed))

    def on_runs_update(self, message: RunsUpdate) -> None:
        message.stop()
        log = self.query_one("#run-log", Log)
        many = len(self.paths) > 1
        batch: list[str] = []
        rows = {r.path: r for r in self.query(RunRow)}
        for snap in message.snapshots:
            self.progress[snap.path] = snap.progress
            idx = self.paths.index(snap.path) + 1 if snap.path in self.paths else 0
            prefix = f"[{idx}] " if many else ""
            batch.extend(prefix + line for line in snap.lines)
            if snap.path in rows:
                rows[snap.path].show(snap)
        if batch:
            self.lines_seen += len(batch)
            # Log's own auto-scroll only scrolls a log already at its end, so one batch written before the
            # first layout left it on its first lines for good; following scrolls to the end every time.
            log.write_lines(batch, scroll_end=False)
            self._follow_tail()
        for snap in message.snapshots:
            self.failures[snap.path] = snap.failure
        errors = []
        for i, p in enumerate(self.paths):
            failure = self.failures.get(p)
            if failure is not None:  # the headline, the worker's first advice, the next action
                head, *advice, nxt = failure.lines()
                errors.append("\n".join([f"run {i + 1}: {head}", *advice[:1], "  " + nxt]))
        err = self.query_one("#run-error", Static)
        err.update("\n".join(errors))
        err.set_class(bool(errors), "-shown")
        plot = self.query_one(LossPlot)
        plot.set_runs([(str(i + 1), self.progress[p]) for i, p in enumerate(self.paths) if p in self.progress])
        self.post_message(self.Changed())

    class Changed(Message):
        """The runs' progress changed (the screen refreshes its key hints)."""
