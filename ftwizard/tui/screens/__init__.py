"""One screen per wizard step, in order. Imported when shown: the first frame loads only the Task step."""

from __future__ import annotations

import importlib

_SCREENS = (("task", "TaskScreen"), ("hardware", "HardwareScreen"), ("prompt", "PromptScreen"),
            ("train", "TrainScreen"), ("verdict", "VerdictScreen"))


def screen_class(index: int):
    module, name = _SCREENS[index]
    return getattr(importlib.import_module(f"ftwizard.tui.screens.{module}"), name)


class _Screens:
    def __getitem__(self, index: int):
        return screen_class(index)

    def __len__(self) -> int:
        return len(_SCREENS)


SCREENS = _Screens()
