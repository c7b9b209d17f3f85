"""`ftwizard` with no command: the interactive wizard."""

from __future__ import annotations

from ftwizard.errors import NotBuiltYet


def run(_args) -> int:
    raise NotBuiltYet("(the wizard)")
