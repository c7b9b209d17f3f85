"""Helpers for commands of the documented CLI that are not built yet."""

from __future__ import annotations

from ftwizard.errors import NotBuiltYet


def not_built(name: str):
    def run(_args) -> int:
        raise NotBuiltYet(name)

    return run
