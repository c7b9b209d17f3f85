"""Every setting ftwizard reads from the environment, declared once in `Settings` (pydantic-settings): the
FTWIZARD_* variables with their meaning and default, and the provider keys as secrets, from which the redaction
list is derived (a key added here is redacted everywhere; none can be forgotten).

`current()` reads the environment afresh on each call (tests and the wizard change it at run time); the functions
below are the names the rest of ftwizard calls. pydantic is loaded on the first call, never at import: the CLI's
start-up stays light.
"""

from __future__ import annotations

import datetime
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwizard.errors import UsageError

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

# Provider -> the environment variable of its API key (the SDKs' own names). Providers, preflight and redaction
# read this; the Settings model declares each as a secret.
PROVIDER_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
    "together": "TOGETHER_API_KEY",
    "tinker": "TINKER_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
}
JUDGE_KEY_ENV = "FTWIZARD_JUDGE_API_KEY"
ADAPTER_MAX_BYTES = 16 * 2**30
ADAPTER_MAX_FILES = 256


@lru_cache(maxsize=1)
def settings_class() -> type["BaseSettings"]:
    """The one declaration (built on first use so that importing this module loads no pydantic)."""
    from pydantic import AliasChoices, Field, SecretStr
    from pydantic_settings import BaseSettings, SettingsConfigDict

    def secret(env: str, doc: str) -> Any:
        return Field(None, validation_alias=AliasChoices(env), description=doc, json_schema_extra={"env": env})

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="FTWIZARD_", env_ignore_empty=True, extra="ignore",
                                          frozen=True, populate_by_name=True)

        runs_dir: Path | None = Field(None, description="where runs go when --runs-dir is not given (default ./runs)")
        cache_dir: Path | None = Field(None, description="cache folder for token statistics and BPE ranks (default "
                                                         "$XDG_CACHE_HOME/ftwizard)")
        price_per_hour: str = Field("", description="your GPU price per hour, used when neither a flag nor the "
                                                    "recipe gives one")
        debug: bool = Field(False, description="set to 1 to see the traceback of an unexpected error")
        theme: str = Field("", description="a Textual theme name for the wizard")
        fsdp: bool = Field(False, description="set to 1 to shard the model with FSDP across the torchrun processes "
                                              "(local, CUDA)")
        torchrun_args: str = Field("", description="extra torchrun flags (rendezvous for several machines)")
        eval_engine: str = Field("auto", description="local evaluation's generator: auto (vLLM when installed and a "
                                                     "GPU is present, else HF generate), hf or vllm")
        memory_cap_gib: float | None = Field(None, gt=0, description="local training: the most memory a run may use, "
                                             "in GiB (GPU: torch's per-process limit; CPU: checked by the memory "
                                             "probe before step 1)")
        hosted_poll_seconds: float | None = Field(None, gt=0, description="seconds between polls of a hosted job "
                                                  "(default: the recipe's hosted.poll_seconds)")
        hosted_retry_base_seconds: float = Field(1.0, gt=0, description="first back-off of a retried provider call "
                                                 "(default 1 s)")
        hosted_timeout_seconds: float = Field(120.0, gt=0, description="timeout of one provider request (default "
                                              "120 s)")
        hosted_max_attempts: int = Field(8, ge=1, description="attempts of a retried provider call (default 8)")
        adapter_max_bytes: int = Field(ADAPTER_MAX_BYTES, ge=1, description="the most bytes a downloaded adapter may "
                                       "unpack to (default 16 GiB: a rank-64 LoRA of a 70B model is about 1.6 GB); "
                                       "a larger archive is refused, nothing extracted")
        adapter_max_files: int = Field(ADAPTER_MAX_FILES, ge=1, description="the most files a downloaded adapter may "
                                       "hold (default 256; a PEFT adapter is 2-20)")
        as_of: datetime.date | None = Field(None, description="the day (YYYY-MM-DD) hosted availability is judged "
                                            "on: which models can still be trained (default: today)")
        judge_base_url: str = Field("", description="OpenAI-compatible endpoint of the LLM judge (eval.metric = "
                                                    "judge; default: OPENAI_BASE_URL, else OpenAI)")
        judge_api_key: SecretStr | None = Field(None, description="API key of the LLM judge's endpoint (default: "
                                                                  "OPENAI_API_KEY)")
        # provider keys: secrets under the SDKs' own names
        openai_api_key: SecretStr | None = secret("OPENAI_API_KEY", "OpenAI's API key")
        azure_openai_api_key: SecretStr | None = secret("AZURE_OPENAI_API_KEY", "Azure OpenAI's API key")
        azure_openai_ad_token: SecretStr | None = secret("AZURE_OPENAI_AD_TOKEN", "an Entra ID token for Azure OpenAI")
        azure_management_token: SecretStr | None = secret("AZURE_MANAGEMENT_TOKEN",
                                                          "an Azure Resource Manager token (deployments)")
        azure_client_secret: SecretStr | None = secret("AZURE_CLIENT_SECRET", "a service principal's secret "
                                                       "(azure-identity)")
        identity_header: SecretStr | None = secret("IDENTITY_HEADER", "a managed identity's header (azure-identity)")
        together_api_key: SecretStr | None = secret("TOGETHER_API_KEY", "Together AI's API key")
        tinker_api_key: SecretStr | None = secret("TINKER_API_KEY", "Thinking Machines Tinker's API key")
        fireworks_api_key: SecretStr | None = secret("FIREWORKS_API_KEY", "Fireworks AI's API key")

    return Settings


def current():
    """The settings as the environment says now (a UsageError names a variable that does not parse)."""
    from pydantic import ValidationError

    cls = settings_class()
    try:
        return cls()
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = str(err["loc"][0]) if err.get("loc") else "?"
            env = env_name(field)
            problems.append(f"environment variable {env}={os.environ.get(env, '')!r}: {err['msg']}")
        raise UsageError(problems) from None


def env_name(field: str) -> str:
    """The environment variable a Settings field is read from."""
    info = settings_class().model_fields[field]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("env") or f"FTWIZARD_{field.upper()}")


def documented() -> dict[str, str]:
    """Variable name -> what it means, for README and `--help` (the FTWIZARD_* ones)."""
    return {env_name(k): f.description or "" for k, f in settings_class().model_fields.items()
            if env_name(k).startswith("FTWIZARD_")}


def secret_env_vars() -> tuple[str, ...]:
    """Every variable declared a secret (SecretStr): the redaction list is derived from this."""
    from pydantic import SecretStr

    out = []
    for name, f in settings_class().model_fields.items():
        if SecretStr in getattr(f.annotation, "__args__", (f.annotation,)):
            out.append(env_name(name))
    return tuple(out)


def secret_values() -> list[str]:
    """The values of every secret set now (at least 4 characters: shorter ones would redact ordinary text)."""
    return [v for k in secret_env_vars() if len(v := os.environ.get(k, "").strip()) >= 4]


# ---------------------------------------------------------------------------------------------------------
# The names the rest of ftwizard calls

def runs_dir() -> Path | None:
    p = current().runs_dir
    return p.expanduser() if p else None


def cache_dir() -> Path:
    p = current().cache_dir
    if p:
        return p.expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "ftwizard"


def price_per_hour() -> str:
    """The raw FTWIZARD_PRICE_PER_HOUR ('' when unset); `ftwizard.pricing` validates and sources it."""
    return current().price_per_hour.strip()


def debug() -> bool:
    # read without pydantic: asked on the error path, where a bad variable must not raise a second error
    return bool(os.environ.get("FTWIZARD_DEBUG", "").strip())


def theme() -> str:
    return current().theme.strip()


def fsdp() -> bool:
    return current().fsdp


def eval_engine() -> str:
    return current().eval_engine.strip().lower() or "auto"


def memory_cap_gib() -> float | None:
    return current().memory_cap_gib


def torchrun_args() -> str:
    return current().torchrun_args


# Set by ftwizard itself for the worker it starts (not a user setting, so not in Settings or the README).
WORKER_LOCK_FD_ENV = "FTWIZARD_WORKER_LOCK_FD"


def take_worker_lock_fd() -> str:
    """The run-lock descriptor a launcher handed its worker ('' when none), removed from the environment so the
    worker's own children never claim it."""
    return os.environ.pop(WORKER_LOCK_FD_ENV, "").strip()


def under_torchrun() -> bool:
    """A rank started by torchrun (whose launcher process holds the run's lock for all ranks)."""
    return bool(os.environ.get("TORCHELASTIC_RUN_ID", "").strip())


def hosted_poll_seconds(recipe_value: float) -> float:
    return current().hosted_poll_seconds or recipe_value


def hosted_retry_base_seconds() -> float:
    return current().hosted_retry_base_seconds


def hosted_timeout_seconds() -> float:
    return current().hosted_timeout_seconds


def hosted_max_attempts() -> int:
    return current().hosted_max_attempts


def adapter_max_bytes() -> int:
    return current().adapter_max_bytes


def adapter_max_files() -> int:
    return current().adapter_max_files


def judge_base_url() -> str:
    """'' when unset: the OpenAI SDK then uses its own OPENAI_BASE_URL, else api.openai.com."""
    return current().judge_base_url.strip()


def judge_api_key() -> str:
    """The judge's key: FTWIZARD_JUDGE_API_KEY, else the SDK's OPENAI_API_KEY (never logged or written)."""
    s = current()
    key = s.judge_api_key or s.openai_api_key
    return key.get_secret_value().strip() if key else ""


def as_of() -> datetime.date:
    """The day every command and the wizard judge hosted availability on: FTWIZARD_AS_OF, else today."""
    return current().as_of or datetime.date.today()
