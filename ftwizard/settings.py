"""Every FTWIZARD_* setting, read in this one place, with its meaning and default (README lists them too).

Functions, not module constants: tests and the TUI change the environment at run time, and each call reads
it afresh. Provider keys are not here: they keep the SDKs' own names (OPENAI_API_KEY, TOGETHER_API_KEY, ...)
and are read only by the provider that builds a client.
"""

from __future__ import annotations

import os
from pathlib import Path

from ftwizard.errors import UsageError

# name -> what it means (for README and `ftwizard --help`)
SETTINGS: dict[str, str] = {
    "FTWIZARD_RUNS_DIR": "where runs go when --runs-dir is not given (default ./runs)",
    "FTWIZARD_CACHE_DIR": "cache folder for token statistics and BPE ranks (default $XDG_CACHE_HOME/ftwizard)",
    "FTWIZARD_PRICE_PER_HOUR": "your GPU price per hour, used when neither a flag nor the recipe gives one",
    "FTWIZARD_DEBUG": "set to 1 to see the traceback of an unexpected error",
    "FTWIZARD_THEME": "a Textual theme name for the wizard",
    "FTWIZARD_FSDP": "set to 1 to shard the model with FSDP across the torchrun processes (local, CUDA)",
    "FTWIZARD_TORCHRUN_ARGS": "extra torchrun flags (rendezvous for several machines)",
    "FTWIZARD_EVAL_ENGINE": "local evaluation's generator: auto (vLLM when installed and a GPU is present, else "
                            "HF generate), hf or vllm",
    "FTWIZARD_MEMORY_CAP_GIB": "local training: the most memory a run may use, in GiB (GPU: torch's per-process "
                               "limit; CPU: checked by the memory probe before step 1)",
    "FTWIZARD_HOSTED_POLL_SECONDS": "seconds between polls of a hosted job (default: the recipe's hosted.poll_seconds)",
    "FTWIZARD_HOSTED_RETRY_BASE_SECONDS": "first back-off of a retried provider call (default 1 s)",
    "FTWIZARD_HOSTED_TIMEOUT_SECONDS": "timeout of one provider request (default 120 s)",
    "FTWIZARD_HOSTED_MAX_ATTEMPTS": "attempts of a retried provider call (default 8)",
    "FTWIZARD_ADAPTER_MAX_BYTES": "the most bytes a downloaded adapter may unpack to (default 16 GiB: a rank-64 LoRA of "
                                  "a 70B model is about 1.6 GB); a larger archive is refused, nothing extracted",
    "FTWIZARD_ADAPTER_MAX_FILES": "the most files a downloaded adapter may hold (default 256; a PEFT adapter is 2-20)",
    "FTWIZARD_AS_OF": "the day (YYYY-MM-DD) hosted availability is judged on: which models can still be trained "
                      "(default: today)",
    "FTWIZARD_JUDGE_BASE_URL": "OpenAI-compatible endpoint of the LLM judge (eval.metric = judge; default: "
                               "OPENAI_BASE_URL, else OpenAI)",
    "FTWIZARD_JUDGE_API_KEY": "API key of the LLM judge's endpoint (default: OPENAI_API_KEY)",
}


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def env_float(name: str, default: float, *, positive: bool = True) -> float:
    raw = _raw(name)
    if not raw:
        return default
    try:
        v = float(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r}: a number was expected") from None
    if positive and v <= 0:
        raise UsageError(f"environment variable {name} must be > 0")
    return v


def env_int(name: str, default: int) -> int:
    raw = _raw(name)
    if not raw:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r}: a whole number was expected") from None
    if v < 1:
        raise UsageError(f"environment variable {name} must be >= 1")
    return v


def runs_dir() -> Path | None:
    raw = _raw("FTWIZARD_RUNS_DIR")
    return Path(raw).expanduser() if raw else None


def cache_dir() -> Path:
    raw = _raw("FTWIZARD_CACHE_DIR")
    if raw:
        return Path(raw).expanduser()
    xdg = _raw("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "ftwizard"


def price_per_hour() -> str:
    """The raw FTWIZARD_PRICE_PER_HOUR ('' when unset); `ftwizard.pricing` validates and sources it."""
    return _raw("FTWIZARD_PRICE_PER_HOUR")


def debug() -> bool:
    return bool(_raw("FTWIZARD_DEBUG"))


def theme() -> str:
    return _raw("FTWIZARD_THEME")


def fsdp() -> bool:
    return bool(_raw("FTWIZARD_FSDP"))


def eval_engine() -> str:
    return _raw("FTWIZARD_EVAL_ENGINE").lower() or "auto"


def memory_cap_gib() -> float | None:
    return env_float("FTWIZARD_MEMORY_CAP_GIB", 0.0) or None


def torchrun_args() -> str:
    return _raw("FTWIZARD_TORCHRUN_ARGS")


# Set by ftwizard itself for the worker it starts (not a user setting, so not in SETTINGS or the README).
WORKER_LOCK_FD_ENV = "FTWIZARD_WORKER_LOCK_FD"


def take_worker_lock_fd() -> str:
    """The run-lock descriptor a launcher handed its worker ('' when none), removed from the environment so the
    worker's own children never claim it."""
    return os.environ.pop(WORKER_LOCK_FD_ENV, "").strip()


def under_torchrun() -> bool:
    """A rank started by torchrun (whose launcher process holds the run's lock for all ranks)."""
    return bool(_raw("TORCHELASTIC_RUN_ID"))


def hosted_poll_seconds(recipe_value: float) -> float:
    return env_float("FTWIZARD_HOSTED_POLL_SECONDS", recipe_value)


def hosted_retry_base_seconds(default: float = 1.0) -> float:
    return env_float("FTWIZARD_HOSTED_RETRY_BASE_SECONDS", default)


def hosted_timeout_seconds(default: float = 120.0) -> float:
    return env_float("FTWIZARD_HOSTED_TIMEOUT_SECONDS", default)


def hosted_max_attempts(default: int = 8) -> int:
    return env_int("FTWIZARD_HOSTED_MAX_ATTEMPTS", default)


ADAPTER_MAX_BYTES = 16 * 2**30
ADAPTER_MAX_FILES = 256


def adapter_max_bytes() -> int:
    return env_int("FTWIZARD_ADAPTER_MAX_BYTES", ADAPTER_MAX_BYTES)


def adapter_max_files() -> int:
    return env_int("FTWIZARD_ADAPTER_MAX_FILES", ADAPTER_MAX_FILES)


def judge_base_url() -> str:
    """'' when unset: the OpenAI SDK then uses its own OPENAI_BASE_URL, else api.openai.com."""
    return _raw("FTWIZARD_JUDGE_BASE_URL")


def judge_api_key() -> str:
    """The judge's key: FTWIZARD_JUDGE_API_KEY, else the SDK's OPENAI_API_KEY (never logged or written)."""
    return _raw("FTWIZARD_JUDGE_API_KEY") or _raw("OPENAI_API_KEY")


def as_of():
    """The day hosted availability is judged on (FTWIZARD_AS_OF, else today): a `datetime.date`."""
    import datetime

    raw = _raw("FTWIZARD_AS_OF")
    if not raw:
        return datetime.date.today()
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise UsageError(f"environment variable FTWIZARD_AS_OF={raw!r}: a date YYYY-MM-DD was expected") from None
