"""A checkbox that reads the same without colour: `X` when on, a blank when off (16 colours, monochrome, light)."""

from __future__ import annotations

from textual.widgets import Checkbox


class Tick(Checkbox):
    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual's name for the character inside the box
        return "X" if self.value else " "
