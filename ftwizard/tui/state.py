"""The wizard's state: immutable, replaced with `model_copy(update=...)` at each step, so Back costs nothing.

A frozen dataclass rather than a pydantic model: the first frame must not wait for pydantic to import
(the Recipe inside is the validated pydantic object; it is loaded after the first frame).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe

DEFAULT_GPU = "A40"
DEFAULT_PRICE = 0.475  # the seed's A40 price (vast.ai, 2023)


@dataclass(frozen=True)
class WizardState:
    recipe: Optional["Recipe"] = None
    choice: str = ""                # what the Task step picked: a task, a bundled recipe, custom, or a file
    recipe_path: str = ""           # the file a recipe was opened from
    saved_path: str = ""            # where the wizard last saved the recipe
    gpu: str = DEFAULT_GPU
    price_per_hour: float = DEFAULT_PRICE
    epochs: Optional[float] = None  # None: the recipe's own (local max_steps, hosted auto)
    backends: tuple[str, ...] = ("local",)
    runs: tuple[str, ...] = ()      # run directories launched or attached, in order
    requests_per_month: int = 100_000

    def model_copy(self, *, update: dict[str, Any] | None = None) -> "WizardState":
        return dataclasses.replace(self, **(update or {}))

    def with_recipe(self, recipe: "Recipe", **more) -> "WizardState":
        """A state for a freshly chosen recipe: every step's fields prefilled from it."""
        hw = recipe.hardware
        gpu = hw.gpu if hw.gpu and hw.gpu != "auto" else self.gpu
        price = hw.price_per_hour if hw.price_per_hour else self.price_per_hour
        epochs = None if recipe.train.max_steps else recipe.train.epochs
        return self.model_copy(update={"recipe": recipe, "gpu": gpu, "price_per_hour": price, "epochs": epochs,
                                       "backends": (recipe.backend,),
                                       "requests_per_month": recipe.eval.requests_per_month, **more})

    def recipe_for(self, backend: str) -> "Recipe":
        """The recipe a run of this backend gets (the hosted twin of a local recipe is named `<name>-hosted`)."""
        assert self.recipe is not None
        r = self.recipe
        if r.backend == backend:
            return r
        name = r.name
        for suffix in ("-lora", "-local", "-hosted"):
            name = name.removesuffix(suffix)
        return r.with_updates({"backend": backend, "name": f"{name}-{backend}"})
