"""What the local worker says and what it has cost: the narrow `Reporter` the stages, the callback and the trainer
write through, and `RunReporter`, its run-directory implementation (rank 0 writes; other ranks stay silent).
Also the price the run is charged at."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ftwizard.runs.directory import RunDirectory


class Reporter(Protocol):
    """All a training stage may do to the outside world."""

    def log(self, text: str, level: str = "info") -> None: ...

    def event(self, type: str, **fields: Any) -> None: ...

    def status(self, **fields: Any) -> None: ...

    def elapsed(self) -> float: ...

    def cost_so_far(self, elapsed: float) -> float | None: ...


def price_per_hour(recipe, device_name: str | None = None) -> tuple[float | None, str, str]:
    """(USD per GPU-hour, source, date) of the card this run trains on: `ftwizard.pricing.run_gpu_price`, the one
    rule (flag > recipe > FTWIZARD_PRICE_PER_HOUR > catalog), on the CPU too; `device_name` is the card torch
    reports ("cpu" on the CPU), None until it is known."""
    from ftwizard.pricing import run_gpu_price

    p = run_gpu_price(recipe, device_name)
    return p["price_per_hour"], p["price_source"], p["price_date"] or ""


class RunReporter:
    """The `Reporter` of a run directory: events, logs and status.json (its one locked writer) from rank 0 only;
    paid time is this process's plus the earlier attempts' (status.json's train_elapsed_s)."""

    def __init__(self, run: "RunDirectory", *, main: bool, price: tuple[float | None, str, str]):
        self.run = run
        self.main = main
        self.t_start = time.time()
        self.elapsed_before = float(run.status().get("train_elapsed_s") or 0.0) if main else 0.0
        self.price, self.price_source, self.price_date = price
        self.gpu_count = 1

    def log(self, text: str, level: str = "info") -> None:
        if self.main:
            self.run.log(text, level=level, source="local")

    def event(self, type: str, **fields: Any) -> None:
        if self.main:
            self.run.append_event(type, **fields)

    def status(self, **fields: Any) -> None:
        if self.main:
            self.run.update_status(**fields)

    def elapsed(self) -> float:
        """Paid wall time of this run so far: earlier attempts plus this process (loading included)."""
        return self.elapsed_before + (time.time() - self.t_start)

    def cost_so_far(self, elapsed: float) -> float | None:
        if self.price is None:
            return None
        return elapsed / 3600.0 * self.price * self.gpu_count

    def set_price(self, price: tuple[float | None, str, str]) -> None:
        self.price, self.price_source, self.price_date = price
