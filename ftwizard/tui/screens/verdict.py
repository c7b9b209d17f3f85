"""Step 5, Verdict: the runs compared and one recommendation (ftwizard.verdict), and the report exported."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Static
from textual.worker import Worker, WorkerState

from ftwizard.errors import UsageError
from ftwizard.tui import engine
from ftwizard.tui.state import WizardState
from ftwizard.tui.steps import StepScreen


class VerdictScreen(StepScreen):
    INDEX = 4
    BINDINGS = [
        Binding("ctrl+e", "export", "Export report", priority=True),
        Binding("ctrl+r", "recompute", "Recompute"),
        Binding("ctrl+n", "finish", "Finish", priority=True),
    ]

    def __init__(self, state: WizardState):
        super().__init__(state)
        self.verdict = None

    def body(self) -> ComposeResult:
        with Horizontal(classes="row c"):
            yield Label("requests per month", classes="key wide")
            yield Input(str(self.state.requests_per_month), id="requests", type="integer", compact=True)
        with VerticalScroll(id="recommendation-box"):
            yield Static("", id="recommendation")
        with VerticalScroll(id="verdict-scroll"):
            yield Static("", id="verdict")

    def on_mount(self) -> None:
        self.query_one("#verdict-scroll").border_title = "verdict"
        self.action_recompute()

    @on(Input.Changed, "#requests")
    def _requests_changed(self) -> None:
        self.action_recompute()

    def requests(self) -> int | None:
        try:
            n = int(self.query_one("#requests", Input).value)
            return n if n >= 0 else None
        except ValueError:
            return None

    def action_recompute(self) -> None:
        n = self.requests()
        if n is None:
            self.show_problems("requests per month: a whole number (0 or more)")
            return
        self.show_problems("")
        self.query_one("#verdict", Static).update("building the verdict..." if self.state.runs else
                                                  "No runs yet: go Back (escape) to Train and launch one, "
                                                  "or ctrl+o to pick past runs.")
        self._build(list(self.state.runs), n)

    @work(thread=True, exclusive=True, group="verdict", exit_on_error=False)
    def _build(self, paths: list[str], n: int) -> None:
        import time

        from textual.worker import get_current_worker

        time.sleep(0.1)
        if get_current_worker().is_cancelled or not paths:
            return
        recipe = self.state.recipe
        try:
            verdict = engine.build_verdict([Path(p) for p in paths], requests_per_month=n,
                                           private_data=bool(recipe and recipe.private_data),
                                           today=self.app.today)
        except UsageError as e:  # e.g. runs of different tasks: say it, with what the run directories say
            from rich.console import Group
            from rich.text import Text

            from ftwizard.runlist import rich_table, summarize_run

            summaries = []
            for p in paths:
                try:
                    summaries.append(summarize_run(p))
                except UsageError:
                    continue  # named in the verdict's own message
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._show, None, Group(Text(f"no verdict yet: {e}\n"),
                                                                  rich_table(summaries)))
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, verdict, engine.verdict_rich(verdict))

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            what = "the verdict" if event.worker.group == "verdict" else "the export"
            self.query_one("#verdict", Static).update(f"{what} failed: {event.worker.error!r}")

    def _show(self, verdict, renderable) -> None:
        """The recommendation first, where an 80x24 terminal shows it at once; the table and the figures it rests
        on scroll below it."""
        from rich.console import Group
        from rich.panel import Panel

        self.verdict = verdict
        rec = self.query_one("#recommendation", Static)
        box = self.query_one("#recommendation-box")
        if verdict is not None and isinstance(renderable, Group) and isinstance(renderable.renderables[-1], Panel):
            rec.update(renderable.renderables[-1])
            box.display = True
            renderable = Group(*renderable.renderables[:-1])
        else:
            box.display = False
        self.query_one("#verdict", Static).update(renderable)

    def action_export(self) -> None:
        if not self.state.runs:
            self.notify("no runs to report on", severity="warning")
            return
        if self.verdict is None:
            self.notify("no verdict to export yet", severity="warning")
            return
        self._export(self.verdict)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, verdict) -> None:
        from ftwizard.runs.directory import utc_stamp

        out = Path(self.app.runs_dir) / f"report-{utc_stamp()}"
        try:
            msg, sev = f"report written: {engine.export_report(verdict, out)}", "information"
        except UsageError as e:
            msg, sev = f"export failed: {e}", "error"
        self.app.call_from_thread(self.notify, msg, severity=sev, timeout=8)

    def action_finish(self) -> None:
        self.dismiss(None)

    def build_state(self) -> WizardState | None:
        n = self.requests()
        return self.state.model_copy(update={"requests_per_month": n if n is not None else self.state.requests_per_month})
