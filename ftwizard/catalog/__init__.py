"""The catalog: prices, hardware and model shapes as data files with sources and dates (loaders here)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ftwizard.errors import UsageError, did_you_mean

CATALOG_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load_toml(name: str) -> dict:
    with open(CATALOG_DIR / name, "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class HostedModel:
    id: str
    provider: str
    encoding: str
    training_usd_per_1m: float
    input_usd_per_1m: float
    output_usd_per_1m: float
    max_tokens_per_example: int
    context_window: int
    price_source: str
    price_date: str
    aliases: tuple[str, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)


def hosted_models() -> list[HostedModel]:
    out = []
    known = set(HostedModel.__dataclass_fields__)
    for m in load_toml("hosted_models.toml").get("model", []):
        base = {k: v for k, v in m.items() if k in known and k != "aliases"}
        out.append(HostedModel(**base, aliases=tuple(m.get("aliases", ())),
                               extra={k: v for k, v in m.items() if k not in known}))
    return out


def get_hosted_model(name: str) -> HostedModel:
    """A hosted model by id or alias; fine-tuned ids (`ft:gpt-4o-mini-2024-07-18:org::abc`) map to their base."""
    key = name.removeprefix("ft:").split(":")[0]
    models = hosted_models()
    for m in models:
        if key == m.id or key in m.aliases:
            return m
    for m in models:  # dated snapshots not listed: `gpt-4o-mini-2099-01-01` -> gpt-4o-mini
        if any(key.startswith(a + "-") for a in m.aliases):
            return m
    names = [m.id for m in models] + [a for m in models for a in m.aliases]
    raise UsageError(f"unknown hosted model `{name}`{did_you_mean(key, names)}; known: "
                     + ", ".join(m.id for m in models))


def wind_down() -> dict:
    return dict(load_toml("hosted_models.toml").get("wind_down", {}))
