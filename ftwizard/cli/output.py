"""Where output goes: results to stdout (a rich table, or JSON), progress and diagnostics to stderr.

rich honours NO_COLOR and turns colour off when the stream is not a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from typing import Any


def _console(file, soft_wrap: bool):
    from rich.console import Console

    # NO_COLOR (no-color.org): no escape sequences at all, not even bold.
    kwargs = {"color_system": None} if os.environ.get("NO_COLOR") else {}
    return Console(file=file, highlight=False, soft_wrap=soft_wrap, **kwargs)


@lru_cache(maxsize=1)
def out():
    return _console(sys.stdout, soft_wrap=False)


@lru_cache(maxsize=1)
def err():
    return _console(sys.stderr, soft_wrap=True)


def reset() -> None:
    """Forget the consoles (tests swap sys.stdout / sys.stderr)."""
    out.cache_clear()
    err.cache_clear()


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def info(msg: str) -> None:
    err().print(msg)


def warn(msg: str) -> None:
    err().print(f"[yellow]warning:[/yellow] {msg}")


def error(msg: str) -> None:
    from rich.markup import escape

    err().print(f"[bold red]error:[/bold red] {escape(msg)}")
