"""Past runs (ctrl+o from any step): every run in the runs folder with state, deciding metric, cost and age
(`ftwizard.runlist`, as `ftwizard runs` prints them); mark two or more with space and compare them on the
Verdict step."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState


class RunsScreen(Screen[list[str] | None]):
    """Returns the run directories to compare, or None (escape)."""

    BINDINGS = [
        Binding("space", "mark", "Mark"),
        Binding("enter,c", "compare", "Compare marked", priority=True),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, runs_dir):
        super().__init__()
        self.runs_dir = runs_dir
        self.summaries: list = []
        self.marked: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(f"past runs in {self.runs_dir}: space marks, enter compares the marked runs", id="runs-help")
        yield DataTable(id="past-runs", cursor_type="row", zebra_stripes=True)
        with_problems = Static("", id="runs-problems", classes="problems")
        yield with_problems
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#past-runs", DataTable)
        table.loading = True
        table.focus()
        self._load()

    @work(thread=True, exclusive=True, group="past-runs", exit_on_error=False)
    def _load(self) -> None:
        from ftwizard.runlist import list_runs

        summaries, problems = list_runs(self.runs_dir)
        self.app.call_from_thread(self._loaded, summaries, problems)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.query_one("#past-runs", DataTable).loading = False
            self._problems(f"reading the runs failed: {event.worker.error}")

    def _problems(self, text: str) -> None:
        box = self.query_one("#runs-problems", Static)
        box.update(text)
        box.set_class(bool(text), "visible")

    def _loaded(self, summaries, problems: list[str]) -> None:
        from ftwizard.runlist import format_age, metric_header, where

        self.summaries = summaries
        table = self.query_one("#past-runs", DataTable)
        table.loading = False
        table.clear(columns=True)
        decider, named = metric_header(summaries)
        table.add_columns(" ", "run", "where", "state", "metric [95%]", "training $", "age")
        for s in summaries:
            table.add_row(" ", s.name, where(s), s.state, s.metric_cell(named), s.cost_cell(), format_age(s.age_s()),
                          key=s.run_dir)
        self.query_one("#runs-help", Static).update(
            f"past runs in {self.runs_dir}" + (f"; metric: {decider}" if decider else "")
            + "\nspace marks, enter compares the marked runs on the Verdict step")
        if not summaries:
            self._problems(f"no runs in {self.runs_dir} yet")
        elif problems:
            self._problems("skipped: " + "; ".join(problems))

    def action_mark(self) -> None:
        table = self.query_one("#past-runs", DataTable)
        if not self.summaries:
            return
        path = self.summaries[table.cursor_row].run_dir
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked.append(path)
        table.update_cell(path, table.ordered_columns[0].key, "*" if path in self.marked else " ")
        self.query_one("#runs-help", Static).update(f"{len(self.marked)} of {len(self.summaries)} marked: "
                                                    "enter compares them on the Verdict step")

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self._problems("mark two or more runs with space to compare them")
            return
        self.dismiss(list(self.marked))

    def action_close(self) -> None:
        self.dismiss(None)
