"""One computation per price: hosted training cost (this module is the only place that multiplies tokens by a
training rate). GPU price resolution and serving cost live here too as they move out of estimate / verdict.

Every figure returned carries `price_source` and `price_date` from the catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ftwizard.catalog import HostedModel


def _hosted(model: "HostedModel | str") -> "HostedModel":
    from ftwizard.catalog import get_hosted_model

    return model if not isinstance(model, str) else get_hosted_model(model)


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
        "detail": f"{tokens:,} billed tokens x ${float(m.training_usd_per_1m):g}/1M ({m.price_source}, {m.price_date})",
    }
