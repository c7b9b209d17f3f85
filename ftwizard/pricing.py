"""One computation per price: hosted training cost, the GPU's price per hour, serving cost per 1,000 requests
and per month. The CLI, the wizard, the workers, the estimate and the verdict all call these; none re-derives.

Every figure returned carries `price_source` and `price_date` from the catalog (or says it is the user's).
This module knows money, not physics: how many requests a GPU serves comes from `ftwizard.estimate`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ftwizard.errors import UsageError
from ftwizard.fmt import rate

if TYPE_CHECKING:
    from ftwizard.catalog import GPU, HostedModel
    from ftwizard.recipe import Recipe

HOURS_PER_MONTH = 730  # a GPU rented around the clock (8,760 h / 12)


def _hosted(model: "HostedModel | str") -> "HostedModel":
    from ftwizard.catalog import get_hosted_model

    return model if not isinstance(model, str) else get_hosted_model(model)


def _price_value(origin: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{origin} must be a number (got {value!r})") from None
    if not math.isfinite(v) or v <= 0:
        raise UsageError(f"{origin} must be > 0 (got {value!r})")
    return v


# ---------------------------------------------------------------------------------------------------------
# Hosted training

def hosted_training_cost(model: "HostedModel | str", *, billed_tokens: int, validation_tokens: int = 0,
                         n_evals: int = 0) -> dict:
    """Training cost of a hosted job.

    `billed_tokens` is what the provider bills for training, epochs included (OpenAI: epochs x capped tokens per
    example; Together: epochs x training tokens; Tinker: tokens through forward_backward). Providers that bill
    validation passes (Together: `n_evals` x validation tokens) add them at the same rate.
    """
    m = _hosted(model)
    tokens = int(billed_tokens) + int(n_evals) * int(validation_tokens)
    usd = tokens * float(m.training_usd_per_1m) / 1e6
    return {
        "usd": usd,
        "billed_tokens": tokens,
        "usd_per_1m": float(m.training_usd_per_1m),
        "model": m.id,
        "provider": m.provider,
        "price_source": m.price_source,
        "price_date": m.price_date,
        "detail": f"{tokens:,} billed tokens x {rate(m.training_usd_per_1m, '1M')} ({m.price_source}, {m.price_date})",
    }


# ---------------------------------------------------------------------------------------------------------
# GPU price per hour

def gpu_price(gpu: "GPU | str", *, flag: float | None = None, recipe: "Recipe | None" = None,
              recipe_price: float | None = None, recipe_gpu: str | None = None) -> dict:
    """USD per GPU-hour for the GPU actually chosen, with where it comes from.

    Order: the flag (`--price-per-hour`, a price typed in the wizard) > the recipe's `hardware.price_per_hour` >
    FTWIZARD_PRICE_PER_HOUR > the catalog's default price for `gpu`. The recipe's price (from `recipe`, or
    `recipe_price` with the card it is for in `recipe_gpu`) counts only when it is for this card (the recipe
    names it, or names none: `auto`): a price for an A40 never prices an H100.

    Returns {price_per_hour (None when nothing prices this card), price_source, price_date, origin
    (flag|recipe|environment|catalog|none), gpu, note}.
    """
    from ftwizard import settings
    from ftwizard.catalog import get_gpu

    g = get_gpu(gpu) if isinstance(gpu, str) else gpu
    if recipe is not None:
        recipe_price, recipe_gpu = recipe.hardware.price_per_hour, recipe.hardware.gpu
    note = ""
    if recipe_price is not None and recipe_gpu not in (None, "", "auto") and get_gpu(recipe_gpu).name != g.name:
        note = (f"the recipe's {rate(recipe_price, 'h')} is for {recipe_gpu}, not {g.name}: "
                f"{g.name} priced from the next source")
        recipe_price = None

    def catalog_match(v: float) -> dict | None:
        return next((p for p in g.prices if abs(float(p["usd_per_hour"]) - v) < 1e-9), None)

    for value, origin, label in ((flag, "flag", "--price-per-hour"),
                                 (recipe_price, "recipe", "recipe hardware.price_per_hour"),
                                 (settings.price_per_hour() or None, "environment", "FTWIZARD_PRICE_PER_HOUR")):
        if value is None:
            continue
        v = _price_value(label, value)
        cat = catalog_match(v)
        if cat:
            return {"price_per_hour": v, "price_source": f"{label} = {rate(v, 'h')}; matches {cat['source']}",
                    "price_date": cat["date"], "origin": origin, "gpu": g.name, "note": note}
        return {"price_per_hour": v, "price_source": f"{label} (user)", "price_date": None, "origin": origin,
                "gpu": g.name, "note": note}
    p = g.default_price
    if p is None:
        return {"price_per_hour": None, "price_source": f"no catalog price for {g.name}: pass --price-per-hour",
                "price_date": None, "origin": "none", "gpu": g.name, "note": note}
    return {"price_per_hour": float(p["usd_per_hour"]), "price_source": f"{p['provider']}: {p['source']}",
            "price_date": p["date"], "origin": "catalog", "gpu": g.name, "note": note}


def run_gpu_price(recipe: "Recipe", device_name: str | None = None) -> dict:
    """The price of the card a local run trains on (`gpu_price`'s order, FTWIZARD_PRICE_PER_HOUR included): the
    card torch reports (`device_name`: "cpu" on the CPU), else - until it is known - the recipe's card. A card the
    catalog does not know is priced only by the user (the recipe's price when it names no card, else the
    environment)."""
    from ftwizard.catalog import get_gpu, match_gpu

    hw = recipe.hardware
    named = hw.gpu not in ("auto", "")
    if device_name:
        g = get_gpu("cpu") if device_name == "cpu" else match_gpu(device_name)
        label = device_name
    else:
        try:
            g, label = (get_gpu(hw.gpu) if named else get_gpu("cpu")), hw.gpu
        except UsageError:
            g, label, named = None, hw.gpu, False  # the recipe's price is for this unknown card
    if g is not None:
        return gpu_price(g, recipe=recipe)
    own = None if named else hw.price_per_hour
    if own is not None:
        return {"price_per_hour": _price_value("recipe hardware.price_per_hour", own),
                "price_source": "recipe hardware.price_per_hour (user)", "price_date": None, "origin": "recipe",
                "gpu": label, "note": ""}
    return {**user_price(), "gpu": label, "note": ""}


def user_price(flag: float | None = None) -> dict:
    """The user's own price for a card the catalog does not know: the flag, else FTWIZARD_PRICE_PER_HOUR."""
    from ftwizard import settings

    for value, origin, label in ((flag, "flag", "--price-per-hour"),
                                 (settings.price_per_hour() or None, "environment", "FTWIZARD_PRICE_PER_HOUR")):
        if value is not None:
            return {"price_per_hour": _price_value(label, value), "price_source": f"{label} (user)",
                    "price_date": None, "origin": origin}
    return {"price_per_hour": None, "price_source": "not in the catalog: pass --price-per-hour", "price_date": None,
            "origin": "none"}


def hosted_token_cost(model: "HostedModel | str", *, prompt_tokens: float, completion_tokens: float,
                      provider: str | None = None) -> float | None:
    """Dollars for these tokens at the fine-tune's per-token serving prices; None when it serves only on hourly
    hardware (a dedicated endpoint, a deployment). Evaluation cost and serving cost both come from here."""
    from ftwizard.catalog import get_hosted_model

    m = get_hosted_model(model, provider) if isinstance(model, str) else model
    if m.input_usd_per_1m is None or m.output_usd_per_1m is None:
        return None
    return (float(prompt_tokens) * m.input_usd_per_1m + float(completion_tokens) * m.output_usd_per_1m) / 1e6


def hosted_serving_cost(model: "HostedModel | str", *, prompt_tokens: float, completion_tokens: float,
                        requests_per_month: float, provider: str | None = None) -> dict:
    """A hosted fine-tune's serving bill: per 1,000 requests and per month from one computation.

    Per-token serving (OpenAI, Tinker): tokens x the fine-tune's prices. Hourly hosting (a Together dedicated
    endpoint, an Azure deployment: `hosting_usd_per_hour`): the endpoint up around the clock, plus per-token
    prices where the catalog has them (Azure bills both).
    """
    from ftwizard.catalog import get_hosted_model

    m = get_hosted_model(model, provider) if isinstance(model, str) else model
    per_token = hosted_token_cost(m, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens) or 0.0
    hosting = HOURS_PER_MONTH * m.hosting_usd_per_hour if m.hosting_usd_per_hour else 0.0
    if m.input_usd_per_1m is None and not m.hosting_usd_per_hour:
        raise UsageError(f"{m.id} on {m.provider}: the catalog has no serving price")
    monthly = hosting + per_token * float(requests_per_month)
    per_1k = 1000 * monthly / requests_per_month if requests_per_month > 0 else 1000 * per_token
    how = (f"a dedicated endpoint at {rate(m.hosting_usd_per_hour, 'h')} around the clock" if hosting else "per token")
    return {"usd_per_request": per_token, "hosting_monthly_usd": hosting, "usd_per_1k": per_1k,
            "monthly_usd": monthly, "how": how, "price_source": m.price_source, "price_date": m.price_date,
            "model": m.id, "provider": m.provider}


def local_serving_cost(*, gpu_seconds_per_request: float, requests_per_gpu_month: float, price: dict,
                       requests_per_month: float) -> dict:
    """Your own GPU, rented around the clock: as many cards as the volume needs (at least one).

    `monthly_usd` is the bill; `usd_per_1k` is that bill spread over the month's requests (what 1,000 requests
    really cost at this volume; at zero volume, the marginal figure); `marginal_usd_per_1k` is the GPU time of
    1,000 more requests on a card that is up anyway. One computation, so the per-1k and monthly figures agree.
    """
    pph = price.get("price_per_hour")
    out = {"price_per_hour": pph, "price_source": price.get("price_source"), "price_date": price.get("price_date"),
           "requests_per_gpu_month": requests_per_gpu_month}
    if pph is None:
        return {**out, "gpus": None, "monthly_usd": None, "usd_per_1k": None, "marginal_usd_per_1k": None}
    gpus = max(1, math.ceil(requests_per_month / requests_per_gpu_month)) if requests_per_month > 0 else 1
    monthly = gpus * HOURS_PER_MONTH * float(pph)
    marginal = 1000 * gpu_seconds_per_request * float(pph) / 3600
    per_1k = 1000 * monthly / requests_per_month if requests_per_month > 0 else marginal
    return {**out, "gpus": gpus, "monthly_usd": monthly, "usd_per_1k": per_1k, "marginal_usd_per_1k": marginal}


def break_even_requests(*, hosted_usd_per_request: float, hosted_fixed_monthly_usd: float = 0.0,
                        price_per_hour: float | None, requests_per_gpu_month: float) -> int | None:
    """The monthly volume from which your own GPUs cost less than the hosted bill (None: never).

    k cards around the clock cost k x 730 x $/h; the hosted bill (fixed hosting + V x $ per request) reaches that
    at V = (that - fixed) / $ per request, and V must be within what k cards serve. Below one card's cost the
    fixed hosting alone already costs more: local is cheaper from the first request (0).
    """
    if price_per_hour is None:
        return None
    card = HOURS_PER_MONTH * price_per_hour
    if hosted_fixed_monthly_usd >= card:
        return 0
    if hosted_usd_per_request <= 0 or hosted_usd_per_request <= card / requests_per_gpu_month:
        return None  # a full card costs more per request than the hosted per-token price
    k = 1
    while True:
        v = (k * card - hosted_fixed_monthly_usd) / hosted_usd_per_request
        if v <= k * requests_per_gpu_month:
            return int(math.ceil(max(v, (k - 1) * requests_per_gpu_month)))
        k += 1


def serving_cost(hosted_model: "HostedModel | str", *, prompt_tokens: float, completion_tokens: float,
                 requests_per_month: float, local: dict | None, provider: str | None = None) -> dict:
    """Hosted vs local serving at a volume: per 1,000 requests, per month, break-even.

    `local` is the estimator's capacity (`gpu_seconds_per_request`, `requests_per_gpu_month`) and a `gpu_price`
    answer under `price`, or None when the model does not fit a card for serving.
    """
    h = hosted_serving_cost(hosted_model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                            requests_per_month=requests_per_month, provider=provider)
    out = {"requests_per_month": requests_per_month,
           "hosted_usd_per_1k": round(h["usd_per_1k"], 4), "hosted_monthly_usd": round(h["monthly_usd"], 2),
           "hosted_serving": h["how"], "hosted_price_source": h["price_source"], "hosted_price_date": h["price_date"],
           "local_usd_per_1k": None, "local_marginal_usd_per_1k": None, "local_monthly_usd": None,
           "local_gpus": None, "break_even_requests_per_month": None}
    if local is None:
        return out
    price = local["price"]
    l = local_serving_cost(gpu_seconds_per_request=local["gpu_seconds_per_request"],
                           requests_per_gpu_month=local["requests_per_gpu_month"], price=price,
                           requests_per_month=requests_per_month)
    out.update(price_per_hour=price.get("price_per_hour"), price_source=price.get("price_source"),
               price_date=price.get("price_date"), local_gpus=l["gpus"])
    if l["monthly_usd"] is not None:
        out.update(local_usd_per_1k=round(l["usd_per_1k"], 4), local_marginal_usd_per_1k=round(l["marginal_usd_per_1k"], 4),
                   local_monthly_usd=round(l["monthly_usd"], 2))
        out["break_even_requests_per_month"] = break_even_requests(
            hosted_usd_per_request=h["usd_per_request"], hosted_fixed_monthly_usd=h["hosting_monthly_usd"],
            price_per_hour=price["price_per_hour"], requests_per_gpu_month=local["requests_per_gpu_month"])
    return out
