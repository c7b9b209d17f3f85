"""What every step shares: the step bar, Back / Next / Save keys, and the result a step hands back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ftwizard.tui.state import WizardState

STEP_NAMES = ("Task", "Hardware", "Prompt", "Train", "Verdict")


@dataclass(frozen=True)
class StepResult:
    action: Literal["next", "back", "goto"]
    state: WizardState | None = None
    step: int | None = None


class StepBar(Static):
    """`1 Task > 2 Hardware > ...` with the current step marked, and the recipe's name."""

    def __init__(self, index: int, recipe_name: str = ""):
        super().__init__(id="stepbar")
        self.index = index
        self.recipe_name = recipe_name

    def render(self):
        from rich.text import Text

        text = Text(no_wrap=True, overflow="ellipsis")
        for i, name in enumerate(STEP_NAMES):
            if i:
                text.append(" > ", style="dim")
            label = f"{i + 1} {name}"
            if i == self.index:
                text.append(f"[{label}]", style="bold reverse")
            elif i < self.index:
                text.append(label)
            else:
                text.append(label, style="dim")
        if self.recipe_name:
            text.append(f"   {self.recipe_name}", style="italic")
        return text


class StepScreen(Screen[StepResult]):
    """Base of the five steps. Subclasses compose `body()` and implement `build_state()`."""

    INDEX = 0
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("ctrl+s", "save_recipe", "Save recipe", priority=True),
        Binding("ctrl+o", "past_runs", "Past runs", priority=True),
    ]

    def __init__(self, state: WizardState):
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        yield StepBar(self.INDEX, self.state.recipe.name if self.state.recipe else "")
        yield from self.body()
        with VerticalScroll(id="problems-box", classes="problems"):  # long refusals scroll, never run off
            yield Static("", id="problems")
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    # -- the step's result ---------------------------------------------------------------------------
    def build_state(self) -> WizardState | None:
        """The state this step hands on; None (with `show_problems`) when the input is not valid yet."""
        return self.state

    def show_problems(self, text: str) -> None:
        """Plain text, never markup: `pip install 'ftwizard[together]'` must show its brackets."""
        from rich.text import Text

        self.query_one("#problems", Static).update(Text(text))
        box = self.query_one("#problems-box", VerticalScroll)
        box.set_class(bool(text), "visible")
        box.scroll_home(animate=False)

    def action_next(self) -> None:
        new = self.build_state()
        if new is not None:
            self.dismiss(StepResult("next", new))

    def action_back(self) -> None:
        if self.INDEX == 0 or (self.INDEX == 3 and self.app.attach_only):
            return
        self.dismiss(StepResult("back", self.keep_state()))

    def keep_state(self) -> WizardState:
        """What Back hands back: the step's edits when they are valid, else the state as it came."""
        return self.build_state() or self.state

    # ctrl+o / ctrl+s open screens that are no step: the app opens them (it knows every screen; a step knows none)
    def action_past_runs(self) -> None:
        """The runs folder's past runs; the ones marked there are compared on the Verdict step."""
        self.app.open_past_runs(self)

    def action_save_recipe(self) -> None:
        self.app.open_save_recipe(self)
