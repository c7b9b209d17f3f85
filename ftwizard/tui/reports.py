"""Data reports for the wizard, cached: the Hardware and Prompt steps ask for the same ones repeatedly."""

from __future__ import annotations

import threading
from typing import Any

from ftwizard.tui import engine

_cache: dict[tuple[str, str], dict[str, Any]] = {}
_lock = threading.Lock()


def _key(recipe) -> str:
    d = recipe.model_dump(mode="json")
    return repr((d["task"], d["data"], d["prompt"], d["train"]["max_length"], d["model"]["base"],
                 d["hosted"]["model"], d["hosted"]["epochs"]))


def data_report(recipe) -> dict[str, Any]:
    """`ftwizard.prepare.data_report`, memoised on what it depends on."""
    key = (_key(recipe), "")
    with _lock:
        if key in _cache:
            return _cache[key]
    report = engine.data_report(recipe)
    with _lock:
        _cache[key] = report
        if len(_cache) > 32:
            _cache.pop(next(iter(_cache)))
    return report


def hosted_alternatives(recipe, epochs: int | None) -> list[dict[str, Any]]:
    """Training cost of the recipe's data on each catalog hosted model (one data report per encoding)."""
    from ftwizard import chatfile
    from ftwizard.catalog import hosted_models

    by_encoding: dict[str, dict] = {}
    rows = []
    for m in hosted_models():
        if m.encoding not in by_encoding:
            r = recipe.with_updates({"hosted.model": m.id, "hosted.epochs": "auto"})
            by_encoding[m.encoding] = data_report(r)["hosted"]
        h = by_encoding[m.encoding]
        n_epochs = epochs or (recipe.hosted.epochs if isinstance(recipe.hosted.epochs, int) else None) \
            or chatfile.default_epochs(h["examples"])
        billed = h["billed_tokens_per_epoch"] * n_epochs
        rows.append({"model": m.id, "provider": m.provider, "billed_tokens": billed, "epochs": n_epochs,
                     "cost_usd": round(billed * m.training_usd_per_1m / 1e6, 2),
                     "price_date": m.price_date, "price_source": m.price_source,
                     "usd_per_1m": m.training_usd_per_1m})
    return rows
