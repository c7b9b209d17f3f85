"""Step 4, Train: choose local, hosted or both, confirm the estimated cost, launch (each run its own process),
and watch: progress with ETA, dollars so far, GPU memory, the loss plot and the log. Cancel stops a run;
quitting the wizard leaves runs running (`ftwizard attach RUN_DIR` picks them up)."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Checkbox, Static
from textual.worker import Worker, WorkerState

from ftwizard.errors import FtwizardError, UsageError
from ftwizard.fmt import usd
from ftwizard.runs.directory import FINAL_STATES, RunDirectory
from ftwizard.tui import engine
from ftwizard.tui.screens.save import ConfirmScreen
from ftwizard.tui.state import WizardState
from ftwizard.tui.steps import StepScreen
from ftwizard.tui.widgets.run_view import RunsView
from ftwizard.tui.widgets.tick import Tick


class TrainScreen(StepScreen):
    INDEX = 3
    BINDINGS = [
        Binding("l", "launch", "Launch"),
        Binding("c", "cancel_runs", "Cancel run"),
        Binding("f", "toggle_follow", "Follow log"),
        Binding("1", "toggle('local')", "Local", show=False),
        Binding("2", "toggle('hosted')", "Hosted", show=False),
    ]

    def __init__(self, state: WizardState):
        super().__init__(state)
        self.estimates: dict[str, float | None] = {}
        self.estimate_notes: dict[str, str] = {}
        self.launching = False

    def body(self) -> ComposeResult:
        r = self.state.recipe
        attach = self.app.attach_only
        with Horizontal(id="launch-panel", classes="-hidden" if attach else ""):
            yield Tick("1 local LoRA", "local" in self.state.backends, id="use-local", compact=True)
            yield Static("", id="est-local", classes="est")
            yield Tick("2 hosted", "hosted" in self.state.backends, id="use-hosted", compact=True,
                           disabled=bool(r and r.private_data))
            yield Static("", id="est-hosted", classes="est")
            yield Button("Launch (l)", id="launch", variant="primary", compact=True)
        yield Static("", id="train-info")
        yield RunsView(list(self.state.runs), id="runs")

    def check_action(self, action: str, parameters) -> bool | None:
        if self.app.attach_only and action in ("launch", "toggle", "back", "save_recipe"):
            return False  # attach follows runs; it launches nothing and has no step before
        return True

    def on_mount(self) -> None:
        self._describe()
        if not self.app.attach_only:
            self._estimate_costs(self.state)

    def _describe(self) -> None:
        r = self.state.recipe
        info = self.query_one("#train-info", Static)
        if not self.state.runs:
            from ftwizard.tui.screens.hardware import short

            where = f" (recipe: {self.state.saved_path})" if self.state.saved_path else ""
            hosted = f"\nhosted {r.hosted.provider} {short(r.hosted.model)}"
            private = " - private data: hosted is off" if r and r.private_data else ""
            steps = f"{r.train.max_steps} steps" if r.train.max_steps else f"{r.train.epochs:g} epochs"
            info.update(f"local {short(r.model.catalog_id or r.model.base)} ({r.model.quant}), {steps}{where}"
                        f"{hosted}{private}\n"
                        "1 / 2 pick, l checks and launches; runs outlive the wizard (own processes)")
        else:
            live = [p for p in self.state.runs if RunDirectory(p).state not in FINAL_STATES]
            info.update(f"{len(self.state.runs)} run(s), {len(live)} in progress (quitting leaves them running)")

    # -- estimates ----------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="train-estimate", exit_on_error=False)
    def _estimate_costs(self, state: WizardState) -> None:
        """Both sides from one estimate (the hosted twin differs from the recipe only in backend and name)."""
        try:
            est = engine.estimate(state.recipe, gpu=state.gpu, price_per_hour=state.price_per_hour,
                                  epochs=state.epochs, runs_dir=str(self.app.runs_dir))
        except UsageError as e:
            note = f"no estimate ({str(e).splitlines()[0][:40]})"
            for backend in ("local", "hosted"):
                self.app.call_from_thread(self._show_estimate, backend, None, note)
            return
        costs = {"local": est.local.cost_usd, "hosted": est.hosted_plan.usd}
        for backend in ("local", "hosted"):
            self.app.call_from_thread(self._show_estimate, backend, costs[backend], "")

    def _show_estimate(self, backend: str, cost, note: str) -> None:
        self.estimates[backend] = cost
        self.estimate_notes[backend] = note
        self.query_one(f"#est-{backend}", Static).update(f"est. {usd(cost)}" if cost is not None else note)

    # -- launching ----------------------------------------------------------------------------------------
    def action_toggle(self, backend: str) -> None:
        box = self.query_one(f"#use-{backend}", Checkbox)
        if not box.disabled:
            box.toggle()

    def chosen_backends(self) -> list[str]:
        return [b for b in ("local", "hosted") if self.query_one(f"#use-{b}", Checkbox).value
                and not self.query_one(f"#use-{b}", Checkbox).disabled]

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        """Check first (each backend's preflight), then ask with the estimated cost, then launch."""
        if self.app.attach_only or self.launching:
            return
        backends = self.chosen_backends()
        if not backends:
            self.show_problems("choose local, hosted or both (keys 1 and 2) before launching")
            return
        self.launching = True
        self.show_problems("")
        self.query_one("#train-info", Static).update(f"checking {' and '.join(backends)} before launch...")
        self._preflight(self.state, backends)

    @work(thread=True, exclusive=True, group="preflight", exit_on_error=False)
    def _preflight(self, state: WizardState, backends: list[str]) -> None:
        """Each backend's check (`ftwizard.usecases.start_run.check_run`, as `ftwizard run` makes it: the preflight,
        then the settings that cannot learn as warnings, never a refusal); for a local run also its schedule (the
        data report's)."""
        from ftwizard.tui import engine, reports

        problems, notes = [], []
        for b in backends:
            try:
                warnings = engine.check_run(state.recipe_for(b), self.app.launcher)
                if b == "local":
                    report = reports.data_report(state.recipe_for(b))
                    sched = report["local"].get("schedule")
                    if sched:
                        notes.append(f"local schedule: {sched['steps']} steps ({sched['epochs']:g} epochs), "
                                     f"warm-up {sched['warmup_steps']}")
                notes += [f"warning: {w}" for w in warnings]
            except UsageError as e:
                problems.append(f"{b}: {e}")
        self.app.call_from_thread(self._preflighted, backends, problems, notes)

    def _preflighted(self, backends: list[str], problems: list[str], notes: list[str] | None = None) -> None:
        if problems:
            self.launching = False
            self._describe()
            self.show_problems("Not launched: the check before launch refused.\n" + "\n".join(problems))
            return
        lines = []
        total = 0.0
        for b in backends:
            r = self.state.recipe_for(b)
            cost = self.estimates.get(b)
            if cost is not None:
                total += cost
            what = f"{r.model.catalog_id or r.model.base}" if b == "local" else f"{r.hosted.provider} {r.hosted.model}"
            lines.append(f"  {b}: {r.name} on {what}, estimated {usd(cost, unpriced='?')}"
                         + (f" ({self.estimate_notes.get(b)})" if cost is None and self.estimate_notes.get(b) else ""))
        question = ("Launch these runs?\n" + "\n".join(lines) + f"\nEstimated total: {usd(total)}\n"
                    + "".join(f"{n}\n" for n in notes or ())
                    + "Each run is its own process: quitting the wizard leaves it running.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.query_one("#train-info", Static).update("launching...")
                self._launch(self.state, backends)
            else:
                self.launching = False
                self._describe()

        self.app.push_screen(ConfirmScreen(question, yes="Launch", no="Not now"), callback=answered)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch(self, state: WizardState, backends: list[str]) -> None:
        from ftwizard.tui.recipes_io import launch_save_path, save_recipe

        app = self.app
        launched, problems = [], []
        saved = ""
        for b in backends:
            recipe = state.recipe_for(b)
            try:
                if recipe is state.recipe:
                    # the wizard's own recipe reruns headless from the working folder; a twin for the other
                    # backend lives only in its run directory (recipe.toml), never as a stray file here
                    path = launch_save_path(recipe, state.saved_path)
                    saved = str(path if path.exists() else save_recipe(recipe, path))
                launched.append(str(app.launcher.launch(recipe, app.runs_dir).path))
            except UsageError as e:
                problems.append(f"{b}: {e}")
        app.call_from_thread(self._launched, launched, problems, saved)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """A bug in a worker is shown here, with its name, instead of a traceback over the screen."""
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group in ("preflight", "launch", "train-estimate"):
            self.launching = False
            self._describe()
        self.show_problems(f"{event.worker.group} failed: {type(event.worker.error).__name__}: {event.worker.error}")

    def _launched(self, launched: list[str], problems: list[str], saved: str) -> None:
        self.launching = False
        view = self.query_one(RunsView)
        for p in launched:
            view.add_run(p)
        update = {"runs": tuple(self.state.runs) + tuple(launched), "backends": tuple(self.chosen_backends())}
        if saved:
            update["saved_path"] = saved
        self.state = self.state.model_copy(update=update)
        self.app.state = self.state
        self.show_problems("\n".join(problems))
        if launched:
            self.notify("launched: " + ", ".join(Path(p).name for p in launched)
                        + (f"\nrecipe: {saved}" if saved else ""), timeout=8)
        self._describe()

    # -- following ---------------------------------------------------------------------------------------
    def action_toggle_follow(self) -> None:
        self.query_one(RunsView).toggle_follow()

    def action_cancel_runs(self) -> None:
        live = [p for p in self.state.runs if RunDirectory(p).state not in FINAL_STATES]
        if not live:
            self.notify("no run in progress")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(live)

        names = "\n".join(f"  {Path(p).name}" for p in live)
        self.app.push_screen(ConfirmScreen(f"Cancel {len(live)} run(s)?\n{names}", yes="Cancel runs", no="Keep"),
                             callback=answered)

    @work(thread=True, group="cancel", exit_on_error=False)
    def _cancel(self, paths: list[str]) -> None:
        msgs = []
        for p in paths:
            try:
                self.app.launcher.cancel(RunDirectory(p))
                msgs.append(f"cancel requested: {Path(p).name}")
            except FtwizardError as e:  # e.g. the provider refused: the run goes on, and the user is told
                msgs.append(f"could not cancel {Path(p).name}: {e}")
        self.app.call_from_thread(self.notify, "\n".join(msgs))

    @on(RunsView.Changed)
    def _runs_changed(self) -> None:
        self._describe()

    def build_state(self) -> WizardState | None:
        return self.state.model_copy(update={"backends": tuple(self.chosen_backends()) or self.state.backends})
