"""Calls to a provider's API (OpenAI, Azure OpenAI, Together AI, Fireworks, any OpenAI-compatible endpoint such as
the judge's): keys redacted from every text that leaves, which errors are transient, the one retry policy, and a
failure put in the user's words.

Keys come only from the environment and never reach a file, a log line or an error message: every such text
passes through `redact`. The SDKs' own retries are off (max_retries=0): a retried POST that creates a job could
bill twice (the together SDK retries `fine_tuning.create` with no idempotency key), so every retry decision is
made here, knowingly.

The openai, together and fireworks SDKs are generated from the same template: their errors share one hierarchy
(`APIConnectionError`, `APITimeoutError`, `APIStatusError` and its subclasses), exported by each SDK's top
module. `_sdk_error(exc, name)` asks the SDK that raised `exc` for its own class of that name. `cfg`, where
given, is the provider's `ProviderConfig` (its `provider`, `key_var` and `label` name the provider in messages).
"""

from __future__ import annotations

import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from ftwizard.errors import RunFailed

T = TypeVar("T")

_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|sess-[A-Za-z0-9_\-]{8,}|tgp_v1_[A-Za-z0-9_\-]{8,}|tml-[A-Za-z0-9_\-]{8,})\b")


# ---------------------------------------------------------------------------------------------
# Redaction

def secrets_in_env() -> list[str]:
    """Every secret the settings declare (provider keys, tokens, the judge's key), as set now."""
    from ftwizard import settings

    return settings.secret_values()


def redact(text: Any, extra: list[str] | tuple[str, ...] = ()) -> str:
    """`text` with every API key from the environment (and anything shaped like one) replaced."""
    s = str(text)
    for secret in sorted({*secrets_in_env(), *extra}, key=len, reverse=True):
        if secret:
            s = s.replace(secret, "***")
    return _KEYLIKE.sub(lambda m: m.group(0)[:3] + "***", s)


# ---------------------------------------------------------------------------------------------
# Errors: what is transient, what is a refusal, and what to tell the user

class HostedError(RunFailed):
    """A provider error explained: `kind` (api|data|quota|auth|permission|wind_down|model|network), `advice`."""

    def __init__(self, message: str, *, kind: str = "api", advice: list[str] | None = None,
                 status_code: int | None = None, code: str | None = None):
        self.message = redact(message)
        self.kind = kind
        self.advice = [redact(a) for a in (advice or [])]
        self.status_code = status_code
        self.code = code
        text = self.message + "".join(f"\n  - {a}" for a in self.advice)
        super().__init__(text)


def _sdk_error(exc: BaseException, name: str) -> bool:
    """Whether `exc` is an instance of the class `name` of the SDK that raised it (openai, together, fireworks)."""
    sdk = sys.modules.get(type(exc).__module__.split(".")[0])
    cls = getattr(sdk, name, None) if sdk is not None and sdk.__name__ in ("openai", "together", "fireworks") else None
    return isinstance(cls, type) and isinstance(exc, cls)


def status_code(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None) if _sdk_error(exc, "APIStatusError") else None


def error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        c = inner.get("code")
        return str(c) if c else None
    return None


def error_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        msg = body.get("message")
        if isinstance(body.get("error"), dict):
            msg = body["error"].get("message") or msg
        if msg:
            return redact(msg)
    return redact(getattr(exc, "message", None) or str(exc) or type(exc).__name__)


NOT_RETRYABLE_429 = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}


_HTTP_LIBS = ("httpx", "httpx2", "httpcore")


def is_transport_error(exc: BaseException) -> bool:
    """A connection that dropped or broke mid-way outside the SDK's own wrapping - a streamed download
    (httpx's RemoteProtocolError, ReadError, ReadTimeout: not SDK errors, they arise after the SDK returned the
    response) or a plain urllib fetch (a reset, a body cut short, a 5xx/429 answer): the same kind of fault as the
    SDK's APIConnectionError, retried by the same policy. The one place this classification lives."""
    import http.client
    import urllib.error

    lib = type(exc).__module__.split(".")[0]
    if lib in _HTTP_LIBS:
        base = getattr(sys.modules.get(lib), "TransportError", None) or getattr(sys.modules.get(lib), "NetworkError",
                                                                                 None)
        return isinstance(base, type) and isinstance(exc, base)
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    if isinstance(exc, urllib.error.URLError):
        return isinstance(exc.reason, (OSError, http.client.HTTPException)) and not isinstance(exc.reason,
                                                                                               FileNotFoundError)
    return isinstance(exc, (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError,
                            TimeoutError))


def is_transient(exc: BaseException) -> bool:
    """429 (not a quota refusal), 5xx, timeouts and dropped connections: worth another try."""
    if _sdk_error(exc, "APIConnectionError") or is_transport_error(exc):  # includes APITimeoutError
        return True
    status = status_code(exc)
    if status is not None:
        if status == 429:
            return error_code(exc) not in NOT_RETRYABLE_429
        return status >= 500 or status in (408, 409)
    return False


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a POST that raised this may still have taken effect (the server may have acted, then failed)."""
    if _sdk_error(exc, "APIConnectionError"):
        return True
    status = status_code(exc)
    return status is not None and status >= 500


def wind_down_advice(cfg=None) -> tuple[str, list[str]]:
    from ftwizard.catalog import wind_down

    w = wind_down()
    msg = ("OpenAI no longer lets this organization create fine-tuning jobs (403 on job creation, e.g. "
           "training_not_available): self-serve fine-tuning is winding down")
    advice = [
        f"dates: organizations that never fine-tuned lost job creation on {w.get('never_fine_tuned', '2026-05-07')}; "
        f"organizations without fine-tuned-model inference in the last 60 days on {w.get('inactive_60_days', '2026-07-02')}; "
        f"nobody can create new jobs after {w.get('all_jobs_closed', '2027-01-06')} "
        f"(source: {w.get('source', 'OpenAI deprecations page')})",
        "existing fine-tuned models keep serving until their base model retires",
        "way forward 1: fine-tune on Azure OpenAI with the same recipe: --set hosted.provider=azure "
        "with AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY (and OPENAI_API_VERSION) in the environment",
        "way forward 2: LoRA on an open model with Together AI, weights you can download: "
        "`ftwizard run recipes/sql-together.toml` / `recipes/viggo-together.toml` (TOGETHER_API_KEY)",
        "way forward 3: LoRA on an open model on your own GPU with the same data: --set backend=local "
        "(with a model.base of your choice), or bring an existing OpenAI job over with "
        "`ftwizard import-openai-job JOB_ID`, which writes the local recipe for its data",
    ]
    return msg, advice


def missing_permission(message: str) -> bool:
    """Whether an OpenAI refusal says the key or project lacks a permission (its wording for restricted keys and
    project roles: "You have insufficient permissions for this operation. Missing scopes: ...")."""
    lowered = message.lower()
    return "insufficient permissions" in lowered or "missing scopes" in lowered


def explain(exc: BaseException, *, what: str, cfg=None) -> HostedError:
    """A provider exception as one clear HostedError (never the key, never a traceback)."""
    if isinstance(exc, HostedError):
        return exc
    code = error_code(exc)
    msg = error_message(exc)
    status = getattr(exc, "status_code", None)
    key_var = cfg.key_var if cfg else "OPENAI_API_KEY"
    where = cfg.label if cfg else "the provider"
    if status in (401, 403) and missing_permission(msg):
        # A restricted key or a project role without the scope: OpenAI says "insufficient permissions ...
        # Missing scopes: ..." (as 401 or 403). Not the wind-down, and not a wrong key: a setting to change.
        return HostedError(f"{what}: this API key or project lacks the permission for it ({msg})", kind="permission",
                           status_code=status, code=code,
                           advice=[f"give the key in {key_var} the missing scope (a restricted key: fine-tuning "
                                   "'Write'; files 'Write'), or use a key of a project where you are Member or Owner",
                                   "this is a permission of the key, not OpenAI's fine-tuning wind-down"])
    if code == "training_not_available" or (status == 403 and what.startswith("creating the fine-tuning job")
                                            and cfg is not None and cfg.provider == "openai"):
        # The wind-down's only public report is a plain permission-denied 403: any other 403 on create is it.
        m, advice = wind_down_advice(cfg)
        return HostedError(f"{what}: {m}", kind="wind_down", advice=advice, status_code=status, code=code)
    if _sdk_error(exc, "APITimeoutError"):
        return HostedError(f"{what}: {where} did not answer in time", kind="network", status_code=None, code=None,
                           advice=["check the connection; the run can be continued with `ftwizard run --resume RUN_DIR`"])
    if _sdk_error(exc, "APIConnectionError") or is_transport_error(exc):
        return HostedError(f"{what}: cannot reach {where} ({msg})", kind="network",
                           advice=["check the network and OPENAI_BASE_URL / AZURE_OPENAI_ENDPOINT / "
                                   "TOGETHER_BASE_URL; continue with `ftwizard run --resume RUN_DIR`"])
    if _sdk_error(exc, "AuthenticationError"):
        return HostedError(f"{what}: {where} rejected the API key in {key_var} ({msg})", kind="auth",
                           status_code=status, code=code, advice=[f"check {key_var} (and the organization/project)"])
    if status == 429 and code in NOT_RETRYABLE_429:
        return HostedError(f"{what}: quota or billing limit reached ({msg})", kind="quota", status_code=status,
                           code=code, advice=["check the plan and billing settings of the organization"])
    lowered = msg.lower()
    if code in ("model_not_available", "model_not_found", "invalid_model") or (
            status in (400, 404) and "model" in lowered and ("not available" in lowered or "does not exist" in lowered
                                                             or "not supported" in lowered)):
        if what.startswith("chat completion"):
            return HostedError(f"{what}: the model is not available to this key ({msg})", kind="model",
                               status_code=status, code=code,
                               advice=["check the fine-tuned model id (with Azure OpenAI: the deployment name)"])
        return HostedError(f"{what}: the model is not available for fine-tuning here ({msg})", kind="model",
                           status_code=status, code=code,
                           advice=["pick another hosted.model (see `ftwizard estimate --json` for the catalog)"])
    if code and ("file" in code or code.startswith("invalid_training") or code.startswith("invalid_validation")) or (
            status == 400 and "file" in lowered):
        return HostedError(f"{what}: the provider rejected the data file ({msg})", kind="data", status_code=status,
                           code=code, advice=["run `ftwizard prepare RECIPE --out DIR` to see the data report"])
    if _sdk_error(exc, "PermissionDeniedError"):
        return HostedError(f"{what}: permission denied by {where} ({msg})", kind="api", status_code=status, code=code)
    if status_code(exc) is not None:
        return HostedError(f"{what}: {where} answered {status}" + (f" {code}" if code else "") + f": {msg}",
                           kind="api", status_code=status, code=code)
    return HostedError(f"{what}: {type(exc).__name__}: {redact(exc)}", kind="api")


# ---------------------------------------------------------------------------------------------
# Retries

def _settings():
    from ftwizard import settings

    return settings


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; honours Retry-After (capped)."""

    base_s: float = field(default_factory=lambda: _settings().hosted_retry_base_seconds())
    cap_s: float = 60.0
    max_attempts: int = field(default_factory=lambda: _settings().hosted_max_attempts())
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, exc: BaseException | None = None) -> float:
        d = random.uniform(0, min(self.cap_s, self.base_s * (2 ** attempt)))
        retry_after = _retry_after(exc)
        if retry_after is not None:
            d = max(d, min(retry_after, self.cap_s))
        return max(d, self.base_s / 10)


def _retry_after(exc: BaseException | None) -> float | None:
    resp = getattr(exc, "response", None)
    if resp is None:
        return None
    try:
        raw = resp.headers.get("retry-after-ms")
        if raw:
            return float(raw) / 1000
        raw = resp.headers.get("retry-after")
        return float(raw) if raw else None
    except (TypeError, ValueError):
        return None


def with_retries(fn: Callable[[], T], *, what: str, policy: RetryPolicy | None = None,
                 on_retry: Callable[[int, BaseException, float], None] | None = None,
                 cfg=None,
                 recover: Callable[[BaseException], T | None] | None = None) -> T:
    """Call `fn` until it succeeds, retrying transient errors: the one retry policy of every provider call
    (API requests, uploads, downloads, chat completions, the judge). A connection that drops mid-transfer is
    transient wherever it arises (`is_transport_error`).

    Only for calls safe to repeat (GET, idempotent POST) - or, with `recover`, a POST whose answer may have been
    lost (`outcome_unknown`): `recover(exc)` looks for what it made, and a found result is returned instead of
    trying again. A provider error that will not pass is raised as a HostedError; anything else (a bug, a full
    disk) propagates as it is."""
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below; what is not a provider error is re-raised
            if recover is not None and outcome_unknown(exc):
                found = recover(exc)
                if found is not None:
                    return found
            if not is_transient(exc) or attempt + 1 >= policy.max_attempts:
                if is_provider_error(exc):
                    raise explain(exc, what=what, cfg=cfg) from None
                raise
            d = policy.delay(attempt, exc)
            if on_retry:
                on_retry(attempt + 1, exc, d)
            policy.sleep(d)
            attempt += 1


def is_provider_error(exc: BaseException) -> bool:
    """An error of a provider's SDK or of the connection to it (what `explain` can put in the user's words)."""
    return isinstance(exc, HostedError) or _sdk_error(exc, "APIError") or is_transport_error(exc)


def describe_transient(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    if status:
        code = error_code(exc)
        return f"{status}" + (f" {code}" if code else "")
    return type(exc).__name__.replace("API", "").replace("Error", " error").strip()
