"""Data reports for the wizard, cached: the Prompt step asks for the same ones as the user types."""

from __future__ import annotations

import threading
from typing import Any

from ftwizard.tui.engine import data_report as data_report_uncached

_cache: dict[tuple[str, str], dict[str, Any]] = {}
_lock = threading.Lock()


def _key(recipe) -> str:
    """Everything the report reads: the data, prompts, model, hosted side, and the train settings (its schedule
    and learning warnings); not the run's name."""
    d = recipe.model_dump(mode="json")
    d.pop("name", None)
    d.pop("description", None)
    return repr(sorted(d.items()))


def data_report(recipe) -> dict[str, Any]:
    """`ftwizard.prepare.data_report`, memoised on what it depends on."""
    key = (_key(recipe), "")
    with _lock:
        if key in _cache:
            return _cache[key]
    report = data_report_uncached(recipe)
    with _lock:
        _cache[key] = report
        if len(_cache) > 32:
            _cache.pop(next(iter(_cache)))
    return report
