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

DEFAULT_GPU = "A40"  # the seed's card, when the recipe names none; its price comes from ftwizard.pricing


@dataclass(frozen=True)
class WizardState:
    recipe: Optional["Recipe"] = None
    choice: str = ""                # what the Task step picked: a task, a bundled recipe, custom, or a file
    recipe_path: str = ""           # the file a recipe was opened from
    saved_path: str = ""            # where the wizard last saved this recipe (a new recipe starts with none)
    gpu: str = DEFAULT_GPU
    price_per_hour: Optional[float] = None  # a price typed for `gpu`; None: the catalog's for that card
    epochs: Optional[float] = None  # None: the recipe's own (local max_steps, hosted auto)
    backends: tuple[str, ...] = ("local",)
    runs: tuple[str, ...] = ()      # run directories launched or attached, in order
    requests_per_month: int = 100_000
    own_data: Optional[Any] = None  # usecases.own_data.OwnData: the own-data inputs, proposed again on another card

    def model_copy(self, *, update: dict[str, Any] | None = None) -> "WizardState":
        return dataclasses.replace(self, **(update or {}))

    def with_recipe(self, recipe: "Recipe", **more) -> "WizardState":
        """A state for a freshly chosen recipe: every step's fields prefilled from it. The card and its price stay
        as the user chose them unless the recipe names a card; the recipe file saved for another recipe is
        forgotten (launching this one must never write into it). A local recipe's hosted twin is one that takes
        jobs today (`defaults.hosted_side`: not the seed's gpt-3.5-turbo, shut down)."""
        from ftwizard.defaults import hosted_side

        recipe = hosted_side(recipe)[0]
        hw = recipe.hardware
        named = bool(hw.gpu and hw.gpu != "auto")
        gpu = hw.gpu if named else self.gpu
        price = hw.price_per_hour if named or hw.price_per_hour else self.price_per_hour
        epochs = None if recipe.train.max_steps else recipe.train.epochs
        return self.model_copy(update={"recipe": recipe, "gpu": gpu, "price_per_hour": price, "epochs": epochs,
                                       "backends": (recipe.backend,), "saved_path": "",
                                       "requests_per_month": recipe.eval.requests_per_month, "own_data": None,
                                       **more})

    def recipe_for(self, backend: str) -> "Recipe":
        """The recipe a run of this backend gets (the hosted twin of a local recipe is named `<name>-hosted`;
        it is written only into its run directory)."""
        assert self.recipe is not None
        r = self.recipe
        if r.backend == backend:
            return r
        name = r.name
        for suffix in ("-lora", "-local", "-hosted"):
            name = name.removesuffix(suffix)
        return r.with_updates({"backend": backend, "name": f"{name}-{backend}"})
