"""Provider clients (OpenAI, Azure OpenAI, Together AI, Fireworks, Tinker's endpoint): configuration from the
environment and the SDK clients, retries off (every retry decision is `ftwizard.retry`'s).

Redaction, the error classification and the one retry policy live in `ftwizard.retry` (below the evaluation's
judge, which calls its endpoint through them too); they are re-exported here for the backends' modules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ftwizard.errors import UsageError
from ftwizard.retry import (  # noqa: F401 - re-exported: the hosted backends' modules import them from here
    HostedError,
    RetryPolicy,
    describe_transient,
    error_message,
    redact,
    status_code,
    with_retries,
)


TINKER_BASE_URL_ENV = "TINKER_BASE_URL"
TINKER_DEFAULT_BASE_URL = "https://tinker.thinkingmachines.dev/services/tinker-prod"  # the SDK's own default
# The OpenAI-compatible sampling endpoint (beta) under the same host (Tinker docs, "OpenAI API compatible
# inference"); a sampler checkpoint is the model: model="tinker://<run>/sampler_weights/<name>".
TINKER_OAI_PATH = "/oai/api/v1"


def tinker_base_url() -> str:
    """Tinker's service (the SDK's endpoint); its OpenAI-compatible sampling lives under `TINKER_OAI_PATH`."""
    return (os.environ.get(TINKER_BASE_URL_ENV) or TINKER_DEFAULT_BASE_URL).rstrip("/")


def poll_seconds(recipe_value: float) -> float:
    from ftwizard import settings

    return settings.hosted_poll_seconds(recipe_value)


def request_timeout() -> float:
    from ftwizard import settings

    return settings.hosted_timeout_seconds()


# ---------------------------------------------------------------------------------------------
# Configuration

@dataclass(frozen=True)
class ProviderConfig:
    """Where to reach the provider. Holds the names of the variables, and reads the key only to build a client."""

    provider: str  # openai | azure | together | tinker | fireworks
    key_var: str
    base_url: str | None = None
    organization: str | None = None
    project: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    account_id: str | None = None  # Fireworks: every resource lives under accounts/{account_id}/

    @property
    def label(self) -> str:
        if self.provider == "azure":
            return f"Azure OpenAI ({self.azure_endpoint})"
        if self.provider == "together":
            return "Together AI" + (f" ({self.base_url})" if self.base_url else "")
        if self.provider == "fireworks":
            return f"Fireworks AI (account {self.account_id}" + (f", {self.base_url})" if self.base_url else ")")
        if self.provider == "tinker":
            return f"Tinker's OpenAI-compatible endpoint ({self.base_url})"
        return "OpenAI" + (f" ({self.base_url})" if self.base_url else "")

    def _key(self) -> str:
        key = os.environ.get(self.key_var, "")
        if not key:
            raise UsageError(f"{self.key_var} is not set: export it in the environment (keys are never read from files)")
        return key

    def make_client(self, *, timeout: float | None = None):
        """The provider's own SDK client (openai.OpenAI / AzureOpenAI, together.Together), SDK retries off."""
        key = self._key()
        t = request_timeout() if timeout is None else timeout
        if self.provider == "together":
            import together

            return together.Together(api_key=key, base_url=self.base_url or None, timeout=t, max_retries=0)
        if self.provider == "fireworks":
            import fireworks

            return fireworks.Fireworks(api_key=key, account_id=self.account_id, base_url=self.base_url or None,
                                       timeout=t, max_retries=0)
        import openai

        if self.provider == "azure":
            return openai.AzureOpenAI(api_key=key, azure_endpoint=self.azure_endpoint, api_version=self.api_version,
                                      timeout=t, max_retries=0)
        return openai.OpenAI(api_key=key, base_url=self.base_url or None, organization=self.organization,
                             project=self.project, timeout=t, max_retries=0)

    def make_chat_client(self, *, timeout: float | None = None):
        """An openai-SDK client for chat completions: Together serves OpenAI's chat API under `/v1`."""
        if self.provider not in ("together", "fireworks"):
            return self.make_client(timeout=timeout)
        import openai

        # Fireworks serves OpenAI's chat API under /inference/v1 (api.fireworks.ai/inference/v1).
        default, path = {"together": ("https://api.together.ai", "/v1"),
                         "fireworks": ("https://api.fireworks.ai", "/inference/v1")}[self.provider]
        base = (self.base_url or default).rstrip("/") + path
        t = request_timeout() if timeout is None else timeout
        return openai.OpenAI(api_key=self._key(), base_url=base, timeout=t, max_retries=0)


def provider_config(provider: str, *, azure_api_version: str = "2025-04-01-preview") -> ProviderConfig:
    """The provider's settings from the environment; a UsageError naming every missing variable."""
    from ftwizard.settings import PROVIDER_KEY_ENV

    env = os.environ
    key_var = PROVIDER_KEY_ENV.get(provider, "")
    if provider == "azure":
        missing = [v for v in ("AZURE_OPENAI_ENDPOINT", key_var) if not env.get(v)]
        if missing:
            raise UsageError([f"{v} is not set (hosted.provider = 'azure' needs it in the environment)" for v in missing])
        return ProviderConfig(provider="azure", key_var=key_var,
                              azure_endpoint=env["AZURE_OPENAI_ENDPOINT"],
                              api_version=env.get("OPENAI_API_VERSION") or azure_api_version)
    if provider == "together":
        if not env.get(key_var):
            raise UsageError(f"{key_var} is not set (hosted.provider = 'together' reads the key from the "
                             "environment only; `pip install 'ftwizard[together]'` for the SDK)")
        return ProviderConfig(provider="together", key_var=key_var,
                              base_url=env.get("TOGETHER_BASE_URL") or None)
    if provider == "fireworks":
        missing = [v for v in (key_var, "FIREWORKS_ACCOUNT_ID") if not env.get(v)]
        if missing:
            raise UsageError([f"{v} is not set (hosted.provider = 'fireworks' reads it from the environment only; "
                              "`pip install 'ftwizard[fireworks]'` for the SDK)" for v in missing])
        return ProviderConfig(provider="fireworks", key_var=key_var, account_id=env["FIREWORKS_ACCOUNT_ID"],
                              base_url=env.get("FIREWORKS_BASE_URL") or None)
    if provider == "tinker":  # serving only (the training loop is the Tinker SDK's): the OpenAI-compatible endpoint
        if not env.get(key_var):
            raise UsageError(f"{key_var} is not set (hosted.provider = 'tinker' reads the key from the environment "
                             "only; `pip install 'ftwizard[tinker]'` for the SDK)")
        return ProviderConfig(provider="tinker", key_var=key_var, base_url=tinker_base_url() + TINKER_OAI_PATH)
    if provider != "openai":
        raise UsageError(f"unknown hosted provider {provider!r}; use 'openai', 'azure', 'together', 'tinker' or "
                         "'fireworks'")
    if not env.get(key_var):
        raise UsageError(f"{key_var} is not set (the hosted backend reads the key from the environment only)")
    return ProviderConfig(provider="openai", key_var=key_var,
                          base_url=env.get("OPENAI_BASE_URL") or None,
                          organization=env.get("OPENAI_ORG_ID") or env.get("OPENAI_ORGANIZATION") or None,
                          project=env.get("OPENAI_PROJECT_ID") or None)


def config_for_recipe(recipe) -> ProviderConfig:
    return provider_config(recipe.hosted.provider, azure_api_version=recipe.hosted.azure_api_version)
