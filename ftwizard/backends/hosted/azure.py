"""Azure OpenAI fine-tuning (the openai SDK's AzureOpenAI): files awaited until processed, the job, then a
deployment - Azure serves a fine-tuned model only through a deployment you name, so evaluation sends the
deployment name (never the fine-tuned model id) as the model.

The deployment is either one the user made (`hosted.deployment`) or created here when
`hosted.create_deployment = true`, through the Azure management REST API (the openai SDK has no management
calls): PUT .../Microsoft.CognitiveServices/accounts/{resource}/deployments/{name}, then GET until its
provisioningState is Succeeded. That API takes an Azure AD bearer token (`az account get-access-token`), read
from AZURE_MANAGEMENT_TOKEN; the resource is named by AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP and
AZURE_OPENAI_RESOURCE; AZURE_MANAGEMENT_ENDPOINT overrides https://management.azure.com (tests point it at a
local fake). A deployment bills per hour while it exists: delete it in the portal when done.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ftwizard.backends.base import ProviderCapabilities
from ftwizard.backends.hosted import JobProvider
from ftwizard.backends.hosted.job import OpenAIJob, record_serving_price
from ftwizard.backends.hosted.providers import HostedError, poll_seconds, redact

if TYPE_CHECKING:
    from ftwizard.backends.hosted.job import HostedJob
    from ftwizard.recipe import Recipe
    from ftwizard.rundir import RunDirectory

MANAGEMENT_API_VERSION = "2024-10-01"
MANAGEMENT_VARS = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_OPENAI_RESOURCE", "AZURE_MANAGEMENT_TOKEN")
FILE_READY = "processed"
FILE_FAILED = ("error", "failed", "deleted")


class AzureJob(OpenAIJob):
    """OpenAIJob with Azure's rule: an uploaded file is used only once Azure has processed it."""

    def before_create(self, training_file: str, validation_file: str | None) -> None:
        for file_id in (training_file, validation_file):
            if file_id:
                self.await_processed(file_id)

    def await_processed(self, file_id: str) -> None:
        deadline = time.time() + 3600
        while True:
            fo = self._call(lambda: self.client.files.retrieve(file_id), "waiting for the uploaded file",
                            follow=True)
            status = getattr(fo, "status", FILE_READY)
            if status == FILE_READY:
                return
            if status in FILE_FAILED:
                detail = getattr(fo, "status_details", None) or "no details"
                raise HostedError(f"Azure could not process file {file_id} ({status}): {detail}", kind="data",
                                  advice=["check the data with `ftwizard prepare RECIPE --out DIR`"])
            if time.time() > deadline:
                raise HostedError(f"file {file_id} is still {status} after an hour", kind="api",
                                  advice=["continue with `ftwizard run --resume RUN_DIR`"])
            self.run.log(f"file {file_id}: {status}; waiting until Azure has processed it", source="hosted")
            self.sleep(self.poll)


class AzureProvider(JobProvider):
    name = "azure"
    key_env = "AZURE_OPENAI_API_KEY"
    base_url_env = "AZURE_OPENAI_ENDPOINT"
    capabilities = ProviderCapabilities(
        training="job", data_formats=("chat",), methods=("sft", "dpo", "rft"), weights_downloadable=False,
        serving="deployment",
        notes="a fine-tune serves only through a deployment (hourly hosting); gpt-4.1 family until 2027-10-14, "
              "gpt-4o-mini / gpt-4o until 2027-10-01")

    def make_job(self, run: "RunDirectory", recipe: "Recipe") -> "HostedJob":
        cfg = self.config(recipe)
        return AzureJob(run, recipe, cfg.make_client(), cfg)

    def preflight_extra(self, recipe: "Recipe") -> list[str]:
        h = recipe.hosted
        problems = []
        if recipe.eval.enabled and not h.deployment:
            problems.append("hosted.deployment: Azure serves a fine-tuned model only through a deployment, and "
                            "evaluation needs its name: set hosted.deployment = 'NAME' with "
                            "hosted.create_deployment = true (created after training), or set eval.enabled = "
                            "false and evaluate later with `ftwizard eval RUN_DIR --deployment NAME`")
        if h.create_deployment:
            if not h.deployment:
                problems.append("hosted.create_deployment = true needs hosted.deployment (the name to create)")
            missing = [v for v in MANAGEMENT_VARS if not os.environ.get(v)]
            if missing:
                problems.append("hosted.create_deployment = true uses the Azure management API: set "
                                + ", ".join(missing) + " in the environment (the token from "
                                "`az account get-access-token`)")
        return problems

    def after_training(self, run: "RunDirectory", recipe: "Recipe") -> None:
        h = recipe.hosted
        if not h.deployment:
            return
        if h.create_deployment:
            create_deployment(run, h.deployment, run.status()["fine_tuned_model"], sku=h.deployment_sku,
                              poll=poll_seconds(h.poll_seconds))  # no job or client needed for it
        run.update_status(serving_model=h.deployment, deployment=h.deployment)
        record_serving_price(run, recipe, deployment=h.deployment)


def _management_url(name: str) -> str:
    env = os.environ
    base = (env.get("AZURE_MANAGEMENT_ENDPOINT") or "https://management.azure.com").rstrip("/")
    return (f"{base}/subscriptions/{env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{env['AZURE_RESOURCE_GROUP']}"
            f"/providers/Microsoft.CognitiveServices/accounts/{env['AZURE_OPENAI_RESOURCE']}/deployments/{name}"
            f"?api-version={MANAGEMENT_API_VERSION}")


def _management_call(client, method: str, url: str, what: str, policy, body: dict | None = None) -> dict[str, Any]:
    """One management request, retried on 429 / 5xx / dropped connections (PUT of a named deployment is
    idempotent: a repeat updates the same deployment, it never makes a second)."""
    import httpx

    attempt = 0
    while True:
        try:
            r = client.request(method, url, json=body)
        except httpx.TransportError as exc:
            if attempt + 1 >= policy.max_attempts:
                raise HostedError(f"{what}: cannot reach the Azure management API ({type(exc).__name__})",
                                  kind="network") from None
        else:
            if r.status_code < 400:
                return r.json() if r.content else {}
            if r.status_code != 429 and r.status_code < 500 or attempt + 1 >= policy.max_attempts:
                raise HostedError(f"{what}: the Azure management API answered {r.status_code}: "
                                  f"{redact(r.text[:300])}", kind="auth" if r.status_code in (401, 403) else "api",
                                  status_code=r.status_code)
        policy.sleep(policy.delay(attempt))
        attempt += 1


def create_deployment(run: "RunDirectory", name: str, model: str, *, sku: str, poll: float) -> None:
    """Create (or find) deployment `name` serving `model`, and wait until Azure says it is ready."""
    import httpx

    from ftwizard.backends.hosted.providers import RetryPolicy, request_timeout

    policy = RetryPolicy()
    url = _management_url(name)
    headers = {"Authorization": f"Bearer {os.environ['AZURE_MANAGEMENT_TOKEN']}"}
    with httpx.Client(headers=headers, timeout=request_timeout()) as client:
        st = run.status()
        if st.get("deployment_requested") != name:
            body = {"sku": {"name": sku, "capacity": 1},
                    "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
            _management_call(client, "PUT", url, f"creating deployment {name}", policy, body)
            run.update_status(deployment_requested=name)
            run.log(f"deployment {name} requested for {model} (billed per hour while it exists)", source="hosted")
        deadline = time.time() + 3 * 3600
        while True:
            d = _management_call(client, "GET", url, f"reading deployment {name}", policy)
            state = (d.get("properties") or {}).get("provisioningState", "Unknown")
            if state != run.status().get("deployment_state"):
                run.update_status(deployment_state=state)
                run.log(f"deployment {name}: {state}", source="hosted")
            if state == "Succeeded":
                return
            if state in ("Failed", "Canceled"):
                raise HostedError(f"deployment {name} of {model} ended {state}", kind="api",
                                  advice=["the fine-tuned model is recorded; deploy it in Azure AI Foundry and run "
                                          f"`ftwizard eval {run.path} --deployment NAME`"])
            if time.time() > deadline:
                raise HostedError(f"deployment {name} is still {state} after 3 hours", kind="api")
            time.sleep(poll)
