"""The local run's schedule: optimizer steps (from `train.max_steps`, or from epochs and the data size), warm-up,
the passes over the data those steps make, and the examples each step sees."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

DEFAULT_WARMUP_RATIO = 0.05


def steps_for(n_examples: int, *, epochs: float, micro_batch_size: int, grad_accum: int, world: int = 1) -> int:
    """Optimizer steps for `epochs` passes over `n_examples` (each step sees micro x accum x processes examples)."""
    per_step = max(1, micro_batch_size * grad_accum * max(1, world))
    return max(1, math.ceil(n_examples * epochs / per_step))


@dataclass(frozen=True)
class LocalSchedule:
    steps: int
    warmup_steps: int
    epochs: float          # the passes over the data these steps make
    from_epochs: bool      # steps came from train.epochs (max_steps = 0) or an epochs what-if
    examples_per_step: int

    def as_dict(self) -> dict:
        return {"steps": self.steps, "warmup_steps": self.warmup_steps, "epochs": self.epochs,
                "from_epochs": self.from_epochs, "examples_per_step": self.examples_per_step}


def local_schedule(recipe: "Recipe", n_train: int, *, world: int = 1, epochs: float | None = None) -> LocalSchedule:
    """`train.max_steps`, or steps from `train.epochs` (or the `epochs` what-if, which wins) and the data size when
    it is 0; warm-up `train.warmup_steps` when set, else `train.warmup_ratio` of the run; never the whole run."""
    t = recipe.train
    per_step = max(1, t.micro_batch_size * t.grad_accum * max(1, world))
    if t.max_steps > 0 and epochs is None:
        steps, from_epochs = t.max_steps, False
    else:
        steps, from_epochs = steps_for(n_train, epochs=t.epochs if epochs is None else epochs,
                                       micro_batch_size=t.micro_batch_size, grad_accum=t.grad_accum,
                                       world=world), True
    ratio = getattr(t, "warmup_ratio", DEFAULT_WARMUP_RATIO)
    warm = t.warmup_steps if t.warmup_steps > 0 else int(math.ceil(ratio * steps)) if ratio > 0 else 0
    warm = min(warm, max(0, steps - 1))
    return LocalSchedule(steps=steps, warmup_steps=warm, epochs=round(steps * per_step / max(1, n_train), 3),
                         from_epochs=from_epochs, examples_per_step=per_step)
