"""A price with where it came from. `None` means unpriced (nothing we know prices it), never $0."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    usd_per_hour: float | None = None   # hourly (a GPU, a deployment)
    usd_per_1m: float | None = None     # per million tokens (hosted training)
    source: str = ""                    # who says so (a URL's page, "--price-per-hour (user)", ...)
    date: str | None = None             # the day the source was read (None for a user's price)
    origin: str = "none"                # flag | recipe | environment | catalog | none
    gpu: str | None = None              # the card an hourly price is for
    note: str = ""                      # why a nearer source was passed over

    @property
    def priced(self) -> bool:
        return self.usd_per_hour is not None or self.usd_per_1m is not None

    def for_hours(self, hours: float, gpus: int = 1) -> float | None:
        """Dollars for `hours` on `gpus` cards; None when unpriced."""
        return None if self.usd_per_hour is None else float(hours) * self.usd_per_hour * int(gpus)

    def for_tokens(self, tokens: int) -> float | None:
        """Dollars for `tokens` at the per-token rate; None when unpriced."""
        return None if self.usd_per_1m is None else int(tokens) * self.usd_per_1m / 1e6

    @classmethod
    def from_dict(cls, d: dict) -> "Price":
        """From `pricing.gpu_price`'s answer (the inverse of `as_dict`)."""
        return cls(usd_per_hour=d.get("price_per_hour"), source=d.get("price_source") or "", date=d.get("price_date"),
                   origin=d.get("origin") or "none", gpu=d.get("gpu"), note=d.get("note") or "")

    def as_dict(self) -> dict:
        """The fields cost.json and `--json` carry (their names predate this class)."""
        return {"price_per_hour": self.usd_per_hour, "price_source": self.source, "price_date": self.date,
                "origin": self.origin, "gpu": self.gpu, "note": self.note}
