"""The Azure management plane (Azure Resource Manager) for what the openai SDK cannot do: the deployment that
serves a fine-tuned model. Plain `urllib` (the core install has no `httpx`: the openai SDK moved to `httpx2`),
with a bearer token asked for before every request, so a run that trains for hours never sends a token read
at launch.

Where the token comes from, first match wins:
- `AZURE_MANAGEMENT_TOKEN` (e.g. `az account get-access-token --resource https://management.azure.com`): a
  static token, used as given; Entra tokens live 60-90 minutes, so an expired one is refused in preflight and
  a 401 later ends the step with the command that continues it.
- `azure-identity`'s DefaultAzureCredential (`pip install 'ftwizard[azure]'`): a service principal from the
  environment, workload or managed identity, `az login`, `azd auth login`... It caches the token and fetches a
  new one when it is about to expire; a 401 gets one fresh credential and one more try.

The account is named by AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and AZURE_OPENAI_RESOURCE;
AZURE_MANAGEMENT_ENDPOINT overrides https://management.azure.com (sovereign clouds; the tests' fake).
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from ftwizard.backends.hosted.providers import HostedError, RetryPolicy, redact, request_timeout
from ftwizard.errors import UsageError

API_VERSION = "2024-10-01"
DEFAULT_ENDPOINT = "https://management.azure.com"
SCOPE = "https://management.azure.com/.default"
ACCOUNT_VARS = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_OPENAI_RESOURCE")
TOKEN_VAR = "AZURE_MANAGEMENT_TOKEN"
FRESH_TOKEN_HELP = ("a fresh token: `export AZURE_MANAGEMENT_TOKEN=$(az account get-access-token --resource "
                    "https://management.azure.com --query accessToken -o tsv)`, or unset it and `pip install "
                    "'ftwizard[azure]'` so tokens come from `az login` / a managed identity / a service principal "
                    "and are renewed as they expire")


def missing_account_vars() -> list[str]:
    return [v for v in ACCOUNT_VARS if not os.environ.get(v)]


def _jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (Entra tokens are JWTs), read without verifying it; None when not readable."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, (int, float)) else None


class TokenSource:
    """Bearer tokens for the management plane: the static token, or azure-identity's credential chain."""

    def __init__(self):
        self.static = os.environ.get(TOKEN_VAR) or None
        self._credential = None
        if self.static is None:
            try:
                from azure.identity import DefaultAzureCredential  # noqa: F401 - the `azure` extra
            except ImportError:
                raise UsageError(
                    "creating an Azure deployment needs a management-plane token: `pip install 'ftwizard[azure]'` "
                    "(az login, managed identity or a service principal, renewed as they expire) or set "
                    f"{TOKEN_VAR}") from None

    @property
    def label(self) -> str:
        return TOKEN_VAR if self.static else "DefaultAzureCredential (azure-identity)"

    def _credential_chain(self, fresh: bool = False):
        if self._credential is None or fresh:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return self._credential

    def token(self, *, fresh: bool = False) -> str:
        """A token valid now (the credential renews its cache itself; `fresh` starts from a new credential)."""
        if self.static:
            exp = _jwt_expiry(self.static)
            if exp is not None and exp <= time.time():
                raise HostedError(f"{TOKEN_VAR} expired at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(exp))}",
                                  kind="auth", advice=[FRESH_TOKEN_HELP])
            return self.static
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self._credential_chain(fresh).get_token(SCOPE).token
        except ClientAuthenticationError as e:
            first = str(e.message if hasattr(e, "message") else e).strip().splitlines()[0][:300]
            raise HostedError(f"no Azure management token from DefaultAzureCredential: {redact(first)}",
                              kind="auth", advice=["sign in with `az login` (or configure a managed identity / "
                                                   "AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET), "
                                                   f"or set {TOKEN_VAR}"]) from None

    def refreshable(self) -> bool:
        return self.static is None


class ManagementClient:
    """Requests to one Azure OpenAI (Cognitive Services) account, retried on 429 / 5xx / dropped connections."""

    def __init__(self, tokens: TokenSource | None = None, *, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        missing = missing_account_vars()
        if missing:
            raise UsageError("the Azure management API needs " + ", ".join(missing) + " in the environment")
        env = os.environ
        self.tokens = tokens or TokenSource()
        self.policy = policy or RetryPolicy(sleep=sleep)
        base = (env.get("AZURE_MANAGEMENT_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        self.account_url = (f"{base}/subscriptions/{env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/"
                            f"{env['AZURE_RESOURCE_GROUP']}/providers/Microsoft.CognitiveServices/accounts/"
                            f"{env['AZURE_OPENAI_RESOURCE']}")
        self.account = env["AZURE_OPENAI_RESOURCE"]

    def url(self, suffix: str = "") -> str:
        return f"{self.account_url}{suffix}?api-version={API_VERSION}"

    def _send(self, method: str, url: str, body: dict | None, token: str) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                              **({"Content-Type": "application/json"} if data else {})})
        try:
            with urllib.request.urlopen(req, timeout=request_timeout()) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read()

    def request(self, method: str, url: str, what: str, body: dict | None = None) -> dict[str, Any]:
        """One management request (PUT of a named deployment is idempotent: a repeat updates the same one)."""
        attempt = 0
        renewed = False
        while True:
            token = self.tokens.token()
            try:
                status, raw = self._send(method, url, body, token)
            except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out (TimeoutError is OSError)
                if attempt + 1 >= self.policy.max_attempts:
                    reason = getattr(exc, "reason", exc)
                    raise HostedError(f"{what}: cannot reach the Azure management API ({type(reason).__name__})",
                                      kind="network") from None
            else:
                if status < 400:
                    return json.loads(raw) if raw.strip() else {}
                if status == 401 and self.tokens.refreshable() and not renewed:
                    self.tokens.token(fresh=True)  # the cached token was refused: start from a new credential
                    renewed = True
                    continue
                if (status != 429 and status < 500) or attempt + 1 >= self.policy.max_attempts:
                    raise self._error(status, raw, what)
            self.policy.sleep(self.policy.delay(attempt))
            attempt += 1

    def _error(self, status: int, raw: bytes, what: str) -> HostedError:
        try:
            err = (json.loads(raw) or {}).get("error") or {}
        except ValueError:
            err = {}
        code = err.get("code") if isinstance(err, dict) else None
        message = (err.get("message") if isinstance(err, dict) else None) or raw.decode("utf-8", "replace")[:300]
        text = f"{what}: the Azure management API answered {status}" + (f" {code}" if code else "") + f": {message}"
        if status in (401, 403):
            advice = ([FRESH_TOKEN_HELP] if status == 401 and not self.tokens.refreshable() else
                      [f"the identity behind {self.tokens.label} needs a role on account {self.account} that may "
                       "create deployments (e.g. Cognitive Services Contributor)"])
            return HostedError(text, kind="auth", status_code=status, code=code, advice=advice)
        if status == 404:
            return HostedError(text, kind="api", status_code=status, code=code,
                               advice=["check AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and AZURE_OPENAI_RESOURCE"])
        return HostedError(text, kind="quota" if code and "quota" in code.lower() else "api", status_code=status,
                           code=code)

    # -- what ftwizard asks of it ---------------------------------------------------------------------
    def check_account(self) -> dict[str, Any]:
        """GET the account: proves the token, the role to read it and the three names, before anything is billed."""
        return self.request("GET", self.url(), f"reading Azure OpenAI account {self.account}")

    def put_deployment(self, name: str, model: str, sku: str) -> dict[str, Any]:
        body = {"sku": {"name": sku, "capacity": 1},
                "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
        return self.request("PUT", self.url(f"/deployments/{name}"), f"creating deployment {name}", body)

    def get_deployment(self, name: str) -> dict[str, Any]:
        return self.request("GET", self.url(f"/deployments/{name}"), f"reading deployment {name}")


def preflight_problems() -> list[str]:
    """Everything about the management plane that can fail before a job is billed: the account's names, a
    token source, an unexpired static token, and one authenticated read of the account."""
    missing = missing_account_vars()
    if missing:
        return ["hosted.create_deployment = true uses the Azure management API: set " + ", ".join(missing)
                + " in the environment"]
    try:
        client = ManagementClient()
        client.check_account()
    except UsageError as e:
        return list(e.problems)
    except HostedError as e:
        return ["hosted.create_deployment = true: " + e.message + "".join(f" ({a})" for a in e.advice)]
    return []
