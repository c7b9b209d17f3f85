"""The wizard app: five steps, each a Screen returning a StepResult; the app carries the state between them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from textual.app import App
from textual.binding import Binding
from textual.filter import LineFilter, Monochrome, NoColor

from ftwizard.tui.engine import BackendLauncher, Launcher
from ftwizard.tui.state import WizardState
from ftwizard.tui.steps import STEP_NAMES, StepResult, StepScreen


def pick_theme(env: dict | None = None, *, no_color: bool = False) -> str:
    """A theme that reads well here: truecolor terminals get textual's, others the terminal's own 16 colours.

    FTWIZARD_THEME names any Textual theme; COLORFGBG (set by many terminals) tells a light background.
    With NO_COLOR, a truecolor theme: Textual turns it into shades of grey that keep text apart from its
    background (an ANSI theme's colours all become black there).
    """
    from ftwizard import settings

    forced = settings.theme() if env is None else env.get("FTWIZARD_THEME", "")
    env = os.environ if env is None else env
    if forced:
        return forced
    light = False
    fgbg = env.get("COLORFGBG", "")
    if fgbg:
        try:
            light = int(fgbg.split(";")[-1]) in (7, 15)
        except ValueError:
            light = False
    if no_color or env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "textual-light" if light else "textual-dark"
    return "ansi-light" if light else "ansi-dark"


_NO_COLOR = NoColor()


class WizardApp(App[int]):
    """`ftwizard`: task -> hardware -> prompt -> train -> verdict."""

    CSS_PATH = "app.tcss"
    TITLE = "ftwizard"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, state: WizardState | None = None, *, start_step: int = 0,
                 launcher: Launcher | None = None, runs_dir: str | os.PathLike = "runs",
                 hardware: dict | None = None, theme: str | None = None, attach_only: bool = False,
                 today=None):
        super().__init__()
        self.state = state or WizardState()
        self.start_step = start_step
        self.launcher: Launcher = launcher or BackendLauncher()
        self.runs_dir = Path(runs_dir)
        self.hardware_override = hardware
        self.attach_only = attach_only
        self.today = today  # the verdict's "today" (tests pin it; None = the real date)
        self._theme_name = theme or pick_theme(no_color=self.no_color)  # Textual has read (and removed) NO_COLOR
        self.step_index = start_step
        self.step_history: list[str] = []  # step names shown, in order (tests read it)

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's NO_COLOR filter maps ANSI colours (the terminal's default among them) to black, so an ANSI
        theme turns black on black; for one, colours are dropped instead (the terminal's own pair stays)."""
        filters = super().get_line_filters()
        if self.no_color and self.native_ansi_color:
            return [_NO_COLOR if isinstance(f, Monochrome) else f for f in filters]
        return filters

    def on_mount(self) -> None:
        self.theme = self._theme_name
        self.show_step(self.start_step)

    def show_step(self, index: int) -> None:
        from ftwizard.tui.screens import SCREENS

        self.step_index = index
        self.step_history.append(STEP_NAMES[index])
        screen = SCREENS[index](self.state)
        self.push_screen(screen, callback=self._step_done)

    def _step_done(self, result: StepResult | None) -> None:
        if result is None:
            self.exit(0)
            return
        if result.state is not None:
            self.state = result.state
        if result.action == "back":
            target = max(self.min_step, self.step_index - 1)
        elif result.action == "goto" and result.step is not None:
            target = result.step
        else:
            target = self.step_index + 1
        if target >= len(STEP_NAMES):
            self.exit(0)
            return
        self.show_step(target)

    # -- the screens every step opens (ctrl+o, ctrl+s), not steps themselves -------------------------------
    def open_past_runs(self, step: StepScreen) -> None:
        """The runs folder's past runs; the ones marked there are compared on the Verdict step."""
        from ftwizard.tui.screens.runs import RunsScreen

        def chosen(paths: list[str] | None) -> None:
            if not paths:
                return
            state = step.keep_state()
            if state.recipe is None:  # nothing chosen yet: the steps around the verdict show the first run's
                from ftwizard.runs.directory import RunDirectory

                run = RunDirectory(paths[0])
                state = state.with_recipe(run.recipe(), choice="file", recipe_path=str(run.recipe_path))
            step.dismiss(StepResult("goto", state.model_copy(update={"runs": tuple(paths)}),
                                    step=STEP_NAMES.index("Verdict")))

        self.push_screen(RunsScreen(self.runs_dir), callback=chosen)

    def open_save_recipe(self, step: StepScreen) -> None:
        from ftwizard.tui.screens.save import SaveRecipeScreen

        new = step.build_state()
        if new is None or new.recipe is None:
            step.notify("nothing to save yet: choose a task first", severity="warning")
            return

        def saved(path: str | None) -> None:
            if path:
                step.state = new.model_copy(update={"saved_path": path})
                self.state = step.state
                step.notify(f"saved {path}\nrerun it headless: ftwizard --recipe {path}", timeout=6, markup=False)

        self.push_screen(SaveRecipeScreen(new), callback=saved)

    @property
    def min_step(self) -> int:
        return 3 if self.attach_only else 0

    @property
    def live_runs(self) -> list[str]:
        """Run directories not finished yet (told to the user on quit: they keep running)."""
        from ftwizard.runs.directory import FINAL_STATES, RunDirectory

        return [p for p in self.state.runs if RunDirectory(p).state not in FINAL_STATES]


def make_app(**kwargs) -> WizardApp:
    """The one factory used by the CLI, the tests and the benchmarks."""
    return WizardApp(**kwargs)
