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

from ftwizard.errors import UsageError
from ftwizard.rundir import FINAL_STATES, RunDirectory
from ftwizard.tui import engine
from ftwizard.tui.screens.save import ConfirmScreen
from ftwizard.tui.state import WizardState
from ftwizard.tui.steps import StepScreen
from ftwizard.tui.widgets.run_view import RunsView
from ftwizard.tui.widgets.tick import Tick


def _money(v) -> str:
    if v is None:
        return "?"
    if v == 0:
        return "<$0.01"
    return f"${v:.3f}" if 0 < v < 0.1 else f"${v:,.2f}"


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
        attach = getattr(self.app, "attach_only", False)
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
        if getattr(self.app, "attach_only", False) and action in ("launch", "toggle", "back", "save_recipe"):
            return False  # attach follows runs; it launches nothing and has no step before
        return True

    def on_mount(self) -> None:
        self._describe()
        if not getattr(self.app, "attach_only", False):
            self._estimate_costs(self.state)

    def _describe(self) -> None:
        r = self.state.recipe
        info = self.query_one("#train-info", Static)
        if not self.state.runs:
            where = f" (recipe saved: {self.state.saved_path})" if self.state.saved_path else ""
            hosted = f"; hosted {r.hosted.provider} {r.hosted.model}" if r else ""
            private = " - private data: hosted is off" if r and r.private_data else ""
            info.update(f"local: {r.model.catalog_id or r.model.base} ({r.model.quant}), "
                        f"{r.train.max_steps or f'{r.train.epochs:g} epochs'} steps{hosted}{private}{where}\n"
                        "Pick with 1 / 2, press l to launch. Runs are their own processes: quitting leaves them running.")
        else:
            live = [p for p in self.state.runs if RunDirectory(p).state not in FINAL_STATES]
            info.update(f"{len(self.state.runs)} run(s), {len(live)} in progress. Re-attach any time: "
                        f"ftwizard attach {self.state.runs[-1]}")

    # -- estimates ----------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="train-estimate", exit_on_error=False)
    def _estimate_costs(self, state: WizardState) -> None:
        from ftwizard.tui import reports

        for backend in ("local", "hosted"):
            cost, note = None, ""
            try:
                r = state.recipe_for(backend)
                if backend == "hosted":
                    cost = reports.data_report(r)["hosted"].get("cost_usd")
                else:
                    est = engine.estimate(r, gpu=state.gpu, price_per_hour=state.price_per_hour, quant=r.model.quant,
                                          rank=r.lora.r, epochs=state.epochs, runs_dir=str(self.app.runs_dir))
                    cost = est.get("local", {}).get("cost_usd")
            except engine.NotAvailable:
                note = "no estimate yet"
            except Exception as e:  # noqa: BLE001
                note = f"no estimate ({str(e).splitlines()[0][:40]})"
            self.app.call_from_thread(self._show_estimate, backend, cost, note)

    def _show_estimate(self, backend: str, cost, note: str) -> None:
        self.estimates[backend] = cost
        self.estimate_notes[backend] = note
        self.query_one(f"#est-{backend}", Static).update(f"est. {_money(cost)}" if cost is not None else note)

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
        if getattr(self.app, "attach_only", False) or self.launching:
            return
        backends = self.chosen_backends()
        if not backends:
            self.show_problems("choose local, hosted or both (keys 1 and 2) before launching")
            return
        lines = []
        total = 0.0
        for b in backends:
            r = self.state.recipe_for(b)
            cost = self.estimates.get(b)
            if cost is not None:
                total += cost
            what = f"{r.model.catalog_id or r.model.base}" if b == "local" else f"{r.hosted.provider} {r.hosted.model}"
            lines.append(f"  {b}: {r.name} on {what}, estimated {_money(cost)}"
                         + (f" ({self.estimate_notes.get(b)})" if cost is None and self.estimate_notes.get(b) else ""))
        question = ("Launch these runs?\n" + "\n".join(lines) + f"\nEstimated total: {_money(total)}\n"
                    "Each run is its own process: quitting the wizard leaves it running.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.launching = True
                self.show_problems("launching...")
                self._launch(self.state, backends)

        self.app.push_screen(ConfirmScreen(question, yes="Launch", no="Not now"), callback=answered)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch(self, state: WizardState, backends: list[str]) -> None:
        from ftwizard.tui.recipes_io import default_save_path, save_recipe

        app = self.app
        launched, problems, saved = [], [], []
        for b in backends:
            recipe = state.recipe_for(b)
            try:
                path = state.saved_path if (recipe is state.recipe and state.saved_path) else default_save_path(recipe)
                saved.append(str(save_recipe(recipe, path)))
                run = app.launcher.launch(recipe, app.runs_dir)
                launched.append(str(run.path))
            except (UsageError, engine.NotAvailable) as e:
                problems.append(f"{b}: {e}")
            except Exception as e:  # noqa: BLE001 - never a traceback in the wizard
                problems.append(f"{b}: could not launch: {type(e).__name__}: {e}")
        app.call_from_thread(self._launched, launched, problems, saved)

    def _launched(self, launched: list[str], problems: list[str], saved: list[str]) -> None:
        self.launching = False
        view = self.query_one(RunsView)
        for p in launched:
            view.add_run(p)
        update = {"runs": tuple(self.state.runs) + tuple(launched), "backends": tuple(self.chosen_backends())}
        if saved and not self.state.saved_path and self.state.recipe.backend in self.chosen_backends():
            update["saved_path"] = saved[self.chosen_backends().index(self.state.recipe.backend)]
        self.state = self.state.model_copy(update=update)
        self.app.state = self.state
        self.show_problems("\n".join(problems))
        if launched:
            self.notify("launched: " + ", ".join(Path(p).name for p in launched)
                        + ("\nrecipe saved: " + ", ".join(saved) if saved else ""), timeout=8)
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
            except Exception as e:  # noqa: BLE001
                if engine.terminate_worker(RunDirectory(p)):
                    msgs.append(f"stopped the worker of {Path(p).name}")
                else:
                    msgs.append(f"could not cancel {Path(p).name}: {e}")
        self.app.call_from_thread(self.notify, "\n".join(msgs))

    @on(RunsView.Changed)
    def _runs_changed(self) -> None:
        self._describe()

    def build_state(self) -> WizardState | None:
        return self.state.model_copy(update={"backends": tuple(self.chosen_backends()) or self.state.backends})
