"""What a recipe will cost before it runs, as frozen values: `LocalEstimate` (memory and its fit, speed, hours and
their range, the price and the dollars it makes) and `Estimate` (the local side, the hosted plan, the serving
comparison). `estimate.recipe.estimate_recipe` computes them once; the CLI, the wizard, a local run's record and the
verdict's next run read their fields; `to_json()` is `ftwizard estimate --json`'s contract.

Dollars are never stored: they come from the hours and the `Price` (`LocalEstimate.cost_usd`), so a new price (the
wizard's price box) is `repriced(price)` and nothing else moves. What does not fit is never priced."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

from ftwizard.plan.fit import Fit
from ftwizard.plan.hosted import HostedPlan
from ftwizard.plan.price import Price

RANGE_BASIS = "hours: 10th-90th percentile of held-out estimate/measured speed ratios (docs/estimates.md)"


def _frozen(d: Mapping | None) -> Mapping:
    return MappingProxyType(dict(d or {}))


def _usd(v: float | None) -> float | None:
    """Dollars as the JSON has always carried them: cents from $1, four places below (sub-cent CPU runs)."""
    return None if v is None else round(v, 2 if v >= 1 else 4)


@dataclass(frozen=True)
class LocalEstimate:
    model: str                        # the catalog id sized
    gpu: str                          # the catalog card (or `cpu`)
    gpu_count: int
    quant: str                        # none | 8bit | 4bit
    dtype: str                        # bf16 | fp16 | fp32
    fit: Fit                          # peak memory (calibrated) against the card: the one headroom rule
    on_cpu: bool                      # a CPU run is priced whatever its fit says (RAM is the limit, not VRAM)
    nearest_fits: tuple               # ({"change": "--quant 4bit", "vram_gb": 34.7}, ...) when it does not fit
    tokens_per_s: float               # per GPU
    train_tokens: int
    train_sequences: int
    steps: int
    epochs_equivalent: float
    hours: float                      # exact (rounded only in to_json)
    hours_range: tuple[float, float]  # exact
    price: Price                      # per GPU-hour, with its source and date; unpriced is None, never $0
    gradient_checkpointing: bool
    calibrated_from_runs: int
    uncalibrated: Mapping = field(default_factory=dict)   # vram_gb, tokens_per_s, hours before calibration
    details: Mapping = field(default_factory=dict)        # model_source, family, params, breakdown (--json detail)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uncalibrated", _frozen(self.uncalibrated))
        object.__setattr__(self, "details", _frozen(self.details))

    @property
    def vram_gb(self) -> float:
        return self.fit.need_gb

    @property
    def fits(self) -> bool:
        return self.fit.fits

    @property
    def priced(self) -> bool:
        """Whether dollars are shown at all: a configuration that does not fit never is."""
        return self.fit.fits or self.on_cpu

    @property
    def cost_usd(self) -> float | None:
        return self.price.for_hours(self.hours, self.gpu_count) if self.priced else None

    @property
    def cost_range_usd(self) -> tuple[float, float] | None:
        if not self.priced or not self.price.priced:
            return None
        lo, hi = (self.price.for_hours(h, self.gpu_count) for h in self.hours_range)
        return lo, hi

    def repriced(self, price: Price) -> "LocalEstimate":
        """The same run at another price per hour (hours, cards and everything else unchanged)."""
        return replace(self, price=price)

    def to_json(self) -> dict[str, Any]:
        """`ftwizard estimate --json`'s `local` object (its keys and their order are a contract)."""
        d = self.details
        rng = self.cost_range_usd
        return {
            "model": self.model, "model_source": d.get("model_source"), "family": d.get("family"),
            "params": d.get("params"), "gpu": self.gpu, "gpu_count": self.gpu_count, "quant": self.quant,
            "dtype": self.dtype, "vram_gb": round(self.vram_gb, 1), "gpu_vram_gb": self.fit.device_gb,
            "usable_vram_gb": round(self.fit.usable_gb, 1), "fits": self.fits,
            "nearest_fits": [dict(n) for n in self.nearest_fits],
            "tokens_per_s_total": round(self.tokens_per_s * self.gpu_count, 1), "range_basis": RANGE_BASIS,
            "train_tokens": self.train_tokens, "train_sequences": self.train_sequences, "steps": self.steps,
            "epochs_equivalent": self.epochs_equivalent, "tokens_per_s": round(self.tokens_per_s, 1),
            "hours": round(self.hours, 2), "cost_usd": _usd(self.cost_usd),
            "cost_range_usd": None if rng is None else [round(v, 4) for v in rng],
            "price_per_hour": self.price.usd_per_hour, "price_source": self.price.source,
            "price_date": self.price.date, "hours_range": [round(h, 2) for h in self.hours_range],
            "gradient_checkpointing": self.gradient_checkpointing, "calibrated_from_runs": self.calibrated_from_runs,
            "breakdown": _thaw(d.get("breakdown", {})),
        }

    def run_record(self) -> dict[str, Any]:
        """What a local run stores as `train_summary.json`'s `estimate`: the uncalibrated figures (calibration
        ratios never compound), tokens/s of all GPUs together as the run measures it."""
        raw = self.uncalibrated
        return {"vram_gb": raw["vram_gb"], "hours": raw["hours"],
                "tokens_per_s": raw["tokens_per_s"] * max(1, self.gpu_count), "gpu": self.gpu, "quant": self.quant,
                "model": self.model}


@dataclass(frozen=True)
class Estimate:
    recipe: str
    local: LocalEstimate
    hosted_plan: HostedPlan           # epochs, the rule that chose them, billed tokens, the per-token price
    hosted: Mapping                   # the hosted side as --json shows it (model, availability, price source...)
    ratio: float | None               # hosted dollars / local dollars (None when either is unpriced)
    serving: Mapping | None
    hosted_candidates: tuple
    warnings: tuple[str, ...]
    notes: tuple[str, ...]            # warnings first, then what the estimate assumed
    token_stats_cached: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosted", _frozen(self.hosted))
        if self.serving is not None:
            object.__setattr__(self, "serving", _frozen(self.serving))

    def to_json(self) -> dict[str, Any]:
        """`ftwizard estimate --json` (a contract: DESIGN's JSON shapes)."""
        return {"recipe": self.recipe, "local": self.local.to_json(), "hosted": _thaw(self.hosted),
                "ratio": self.ratio, "serving": None if self.serving is None else _thaw(self.serving),
                "hosted_candidates": [_thaw(c) for c in self.hosted_candidates], "warnings": list(self.warnings),
                "notes": list(self.notes), "token_stats_cached": self.token_stats_cached}


def _thaw(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _thaw(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_thaw(x) for x in v]
    return v
