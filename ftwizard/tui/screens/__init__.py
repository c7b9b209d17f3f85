"""One screen per wizard step, in order."""

from ftwizard.tui.screens.hardware import HardwareScreen
from ftwizard.tui.screens.prompt import PromptScreen
from ftwizard.tui.screens.task import TaskScreen
from ftwizard.tui.screens.train import TrainScreen
from ftwizard.tui.screens.verdict import VerdictScreen

SCREENS = (TaskScreen, HardwareScreen, PromptScreen, TrainScreen, VerdictScreen)

__all__ = ["SCREENS", "TaskScreen", "HardwareScreen", "PromptScreen", "TrainScreen", "VerdictScreen"]
