"""Backends behind the one interface (`ftwizard.backends.base.Backend`): `local` (transformers + peft in its own
process) and one `HostedProvider` per hosted service (`openai`, `azure`, `together`, `tinker`).

    backend = backend_for(recipe)          # local, or the recipe's hosted.provider
    backend.preflight(recipe)              # every check that can fail before a run directory exists
    backend.launch(run, recipe)            # the worker starts in its own session; returns at once
    backend.resume(run) / backend.cancel(run) / backend.is_alive(run)

Following a run (the progress bar, Ctrl-C) is the faces' job (`ftwizard.follow`), after `launch` returns.
Classes are named by "module:Class" strings and imported on first use, so nothing heavy loads at start-up
and an optional provider (tinker) costs nothing until asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ftwizard.backends.base import Backend, HostedProvider, ProviderCapabilities
from ftwizard.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe
    from ftwizard.runs.directory import RunDirectory

LOCAL = {"local": "ftwizard.backends.local:LocalBackend"}
PROVIDERS = {
    "openai": "ftwizard.backends.hosted.openai:OpenAIProvider",
    "azure": "ftwizard.backends.hosted.azure:AzureProvider",
    "together": "ftwizard.backends.hosted.together:TogetherProvider",
    "tinker": "ftwizard.backends.hosted.tinker:TinkerProvider",
    "fireworks": "ftwizard.backends.hosted.fireworks:FireworksProvider",
}
BACKENDS = {**LOCAL, **PROVIDERS}


def get_backend(name: str) -> Backend:
    """A backend instance by name: `local` or a hosted provider (`openai`, `azure`, `together`, `tinker`)."""
    if name == "hosted":
        raise UsageError("the hosted backend is one provider per service: use backend_for(recipe), or name the "
                         "provider (" + ", ".join(PROVIDERS) + ")")
    if name not in BACKENDS:
        raise UsageError(f"unknown backend `{name}`{did_you_mean(name, BACKENDS)}; backends: {', '.join(BACKENDS)}")
    module, _, cls = BACKENDS[name].partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("ftwizard.backends"):
            raise UsageError(f"the `{name}` backend is not available in this version yet") from None
        raise
    return getattr(mod, cls)()


def provider_capabilities(provider: str) -> "ProviderCapabilities":
    """What a hosted provider can do (weights home, how a fine-tune serves, its dates): read by evaluation, the
    verdict and the wizard instead of branching on provider names."""
    backend = get_backend(provider)
    if not isinstance(backend, HostedProvider):
        raise UsageError(f"`{provider}` is not a hosted provider ({', '.join(PROVIDERS)})")
    return backend.capabilities


def backend_for(recipe: "Recipe") -> Backend:
    """The backend that runs this recipe: `local`, or its `hosted.provider`."""
    return get_backend(recipe.hosted.provider if recipe.backend == "hosted" else recipe.backend)


def backend_for_run(run: "RunDirectory") -> Backend:
    """The backend of an existing run (as its recipe says)."""
    return backend_for(run.recipe())

