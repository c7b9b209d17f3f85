"""A small dialog: where to save the recipe."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from pathlib import Path

from ftwizard.tui.recipes_io import default_save_path, holds, save_recipe
from ftwizard.tui.state import WizardState


class SaveRecipeScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, state: WizardState):
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        assert self.state.recipe is not None
        path = self.state.saved_path or str(default_save_path(self.state.recipe))
        with Vertical(id="dialog"):
            yield Label("Save the recipe (reruns headless with ftwizard --recipe FILE)")
            yield Input(path, id="save-path")
            yield Static("", id="save-error", classes="problems")
            yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._save()

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self._save()

    def _save(self) -> None:
        path = self.query_one("#save-path", Input).value.strip()
        if not path:
            return
        target = Path(path).expanduser()
        if target.is_dir():
            self._error(f"{path} is a folder: name a .toml file")
            return
        if target.exists() and not holds(target, self.state.recipe):

            def answered(yes: bool | None) -> None:
                if yes:
                    self._write(path)

            self.app.push_screen(ConfirmScreen(f"{path} already exists (another recipe or file).\nReplace it with this recipe?",
                                               yes="Replace", no="Keep it"), callback=answered)
            return
        self._write(path)

    def _error(self, text: str) -> None:
        err = self.query_one("#save-error", Static)
        err.update(text)
        err.add_class("visible")

    def _write(self, path: str) -> None:
        try:
            saved = save_recipe(self.state.recipe, path)
        except OSError as e:
            self._error(f"cannot write {path}: {e.strerror or e}")
            return
        self.dismiss(str(saved))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Yes / no, keyboard first (y / n / escape)."""

    BINDINGS = [Binding("y", "yes", "Yes"), Binding("n,escape", "no", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="primary")
                yield Button(f"{self.no} (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)
