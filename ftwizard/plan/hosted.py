"""A hosted run's plan: the epochs (and the rule that chose them) and the tokens the provider bills, per epoch
and in all, priced at the catalog's rate. Every provider's job, the Tinker loop, prepare, estimate and the
wizard read this; none re-derives epochs or billed tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ftwizard.fmt import rate
from ftwizard.plan.price import Price

if TYPE_CHECKING:
    from ftwizard.catalog import HostedModel

# OpenAI's rule for `n_epochs = auto` (the cookbook "Chat fine-tuning data prep"): 3 epochs, clamped so that
# examples x epochs stays between 100 and 25,000. Providers without an "auto" (Together, Tinker) are sent the same.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
AUTO_RULE = (f"auto (cookbook rule: {TARGET_EPOCHS} epochs, clamped so that {MIN_TARGET_EXAMPLES} <= examples x "
             f"epochs <= {MAX_TARGET_EXAMPLES:,})")


def default_epochs(n_examples: int) -> int:
    """The epochs OpenAI picks for `n_epochs = auto`."""
    n_epochs = TARGET_EPOCHS
    if n_examples == 0:
        return n_epochs
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        n_epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        n_epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return n_epochs


def hosted_epochs(n_examples: int, setting: "int | str" = "auto", *, override: float | None = None
                  ) -> tuple[float, str]:
    """(epochs, the rule that chose them): a what-if `--epochs`, else the recipe's `hosted.epochs`, else auto."""
    if override is not None:
        return override, "--epochs"
    if isinstance(setting, int):
        return setting, "recipe hosted.epochs"
    return default_epochs(n_examples), AUTO_RULE


@dataclass(frozen=True)
class HostedPlan:
    provider: str
    model: str
    examples: int
    epochs: float
    epochs_rule: str
    billed_tokens_per_epoch: int
    price: Price                        # per token; unpriced when the catalog does not list the model

    @property
    def billed_tokens(self) -> int:
        return int(round(self.billed_tokens_per_epoch * self.epochs))

    @property
    def usd(self) -> float | None:
        return self.price.for_tokens(self.billed_tokens)

    def as_dict(self) -> dict:
        """`Backend.price`'s answer and the estimate's hosted figures (`usd` None when unpriced)."""
        p = self.price
        detail = (f"{self.billed_tokens:,} billed tokens x {rate(p.usd_per_1m, '1M')} ({p.source}, {p.date})"
                  if p.priced else f"{self.billed_tokens:,} billed tokens, unpriced: {p.source}")
        return {"usd": self.usd, "billed_tokens": self.billed_tokens, "usd_per_1m": p.usd_per_1m,
                "model": self.model, "provider": self.provider, "price_source": p.source, "price_date": p.date,
                "detail": detail, "epochs": self.epochs, "epochs_rule": self.epochs_rule, "examples": self.examples,
                "billed_tokens_per_epoch": self.billed_tokens_per_epoch}

    @property
    def api_epochs(self) -> int:
        """The whole number of epochs a provider's API takes."""
        return max(1, int(round(self.epochs)))


def hosted_plan(provider: str, model: str, catalog: "HostedModel | None", *, examples: int,
                billed_tokens_per_epoch: int, setting: "int | str" = "auto",
                override: float | None = None) -> HostedPlan:
    """The plan for `examples` chat examples that bill `billed_tokens_per_epoch` tokens a pass (provider's count:
    OpenAI caps each example at the model's context; Tinker counts every token through forward_backward)."""
    epochs, rule = hosted_epochs(examples, setting, override=override)
    if catalog is None:
        price = Price(source=f"`{model}` is not in the price catalog")
    else:
        price = Price(usd_per_1m=float(catalog.training_usd_per_1m), source=catalog.price_source,
                      date=catalog.price_date, origin="catalog")
    return HostedPlan(provider=provider, model=model, examples=examples, epochs=epochs, epochs_rule=rule,
                      billed_tokens_per_epoch=int(billed_tokens_per_epoch), price=price)
