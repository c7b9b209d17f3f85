"""The hosted catalog: every provider's candidates with prices, dates and availability on any day."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from ftwizard.catalog import get_hosted_model, hosted_candidates
from ftwizard.errors import UsageError

TODAY = datetime.date(2026, 12, 1)


def by(cands, provider, model):
    (c,) = [c for c in cands if c["provider"] == provider and c["model"] == model]
    return c


def test_candidates_today_name_every_provider_with_dates_and_sources():
    cands = hosted_candidates(TODAY)
    assert {c["provider"] for c in cands} >= {"openai", "azure", "together", "tinker"}
    gpt35 = by(cands, "openai", "gpt-3.5-turbo-0125")
    assert not gpt35["available"] and gpt35["shutdown_date"] == "2026-10-23" and gpt35["shutdown_days_left"] == -39
    assert "2026-10-23" in gpt35["unavailable_reason"]
    mini = by(cands, "openai", "gpt-4o-mini-2024-07-18")
    assert mini["available"] and mini["training_available_until"] == "2027-01-06" and mini["training_days_left"] == 36
    assert mini["shutdown_date"] == "2027-01-14" and not mini["weights_downloadable"]
    az = by(cands, "azure", "gpt-4.1-mini-2025-04-14")
    assert az["available"] and az["shutdown_date"] == "2027-10-14" and az["serving"] == "deployment"
    assert not by(cands, "azure", "gpt-35-turbo-0125")["available"]
    tg = by(cands, "together", "Qwen/Qwen3-8B")
    assert tg["available"] and tg["weights_downloadable"] and tg["hub_id"] == "Qwen/Qwen3-8B"
    assert tg["training_usd_per_1m"] == 0.48 and tg["serving"] == "dedicated" and tg["hosting_usd_per_hour"] == 3.99
    for c in cands:
        assert c["price_source"] and c["price_date"], c


def test_as_of_judges_any_day():
    before = hosted_candidates(datetime.date(2026, 10, 1))
    assert by(before, "openai", "gpt-3.5-turbo-0125")["available"]
    after = hosted_candidates(datetime.date(2027, 1, 7))
    assert not by(after, "openai", "gpt-4o-mini-2024-07-18")["available"]
    assert by(after, "azure", "gpt-4o-mini-2024-07-18")["available"]


def test_same_spelling_on_two_providers_resolves_per_provider():
    assert get_hosted_model("gpt-4o-mini").provider == "openai"
    assert get_hosted_model("gpt-4o-mini", "azure").shutdown_date == "2027-10-01"
    assert get_hosted_model("gpt-35-turbo-0125", "azure").encoding == "cl100k_base"
    assert get_hosted_model("Qwen/Qwen3-8B", "tinker").training_usd_per_1m == 0.44
    with pytest.raises(UsageError, match="for provider `together`"):
        get_hosted_model("gpt-4o-mini", "together")


def test_provider_modules_stay_light_and_price_through_the_one_computation(monkeypatch):
    import subprocess
    import sys

    code = ("import sys, ftwizard.backends.hosted.together, ftwizard.backends.hosted.azure, "
            "ftwizard.backends.hosted.openai\n"
            "heavy = [m for m in ('together', 'openai', 'torch', 'zstandard') if m in sys.modules]\n"
            "assert not heavy, heavy")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr

    from ftwizard.backends import backend_for, get_backend
    from ftwizard.pricing import hosted_training_cost
    from ftwizard.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parent.parent / "recipes" / "viggo-together.toml")
    provider = backend_for(recipe)
    assert provider is not get_backend("together") and type(provider) is type(get_backend("together"))
    assert provider.capabilities.weights_downloadable and provider.key_env == "TOGETHER_API_KEY"
    est = provider.price(recipe)
    assert est["epochs"] == 3 and est["price_date"] == "2026-05"
    assert est["usd"] == hosted_training_cost(get_hosted_model(recipe.hosted.model, "together"),
                                              billed_tokens=est["billed_tokens"])["usd"]
    with pytest.raises(UsageError, match="one provider per service"):
        get_backend("hosted")
