"""Azure OpenAI fine-tuning (the openai SDK's AzureOpenAI): files awaited until processed, the job, then a
deployment - Azure serves a fine-tuned model only through a deployment you name, so evaluation sends the
deployment name (never the fine-tuned model id) as the model.

The deployment is either one the user made (`hosted.deployment`) or created here when
`hosted.create_deployment = true`, through the Azure management API (`azure_management`: plain urllib, a token
from AZURE_MANAGEMENT_TOKEN or azure-identity's credential chain, asked for at each request); preflight reads
the account with it before anything is billed. If the deployment cannot be made after training, the run ends
with the fine-tuned model recorded and the one command that deploys and evaluates it:
`ftwizard eval RUN_DIR --deployment NAME --create-deployment`. A deployment bills per hour while it exists.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ftwizard.backends.base import ProviderCapabilities
from ftwizard.backends.hosted import JobProvider
from ftwizard.backends.hosted.job import OpenAIJob, record_serving_price
from ftwizard.backends.hosted.providers import HostedError, poll_seconds
from ftwizard.errors import UsageError
from ftwizard.settings import PROVIDER_KEY_ENV

if TYPE_CHECKING:
    from ftwizard.backends.hosted.job import HostedJob
    from ftwizard.recipe import Recipe
    from ftwizard.runs.directory import RunDirectory

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
    key_env = PROVIDER_KEY_ENV["azure"]
    base_url_env = "AZURE_OPENAI_ENDPOINT"
    capabilities = ProviderCapabilities(
        training="job", data_formats=("chat",), methods=("sft", "dpo", "rft"), weights_downloadable=False,
        serving="deployment",
        notes="a fine-tune serves only through a deployment (hourly hosting); gpt-4.1 family until 2027-10-14, "
              "gpt-4o-mini / gpt-4o until 2027-10-01",
        open_note="Azure OpenAI is not part of OpenAI's wind-down", open_cell="open (Azure)")

    job_class = AzureJob

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
            else:
                from ftwizard.backends.hosted.azure_management import preflight_problems

                problems += preflight_problems()
        return problems

    def unserved_refusal(self, run: "RunDirectory", status: dict) -> str | None:
        """Azure serves a fine-tune only through a deployment the user names (`eval --deployment`)."""
        return (f"{run.path}: Azure serves the fine-tuned model only through a deployment and none is recorded: "
                f"deploy {status.get('fine_tuned_model') or 'it'} and run `ftwizard eval {run.path} --deployment NAME`")

    def after_training(self, run: "RunDirectory", recipe: "Recipe") -> None:
        h = recipe.hosted
        if not h.deployment:
            return
        if h.create_deployment:
            model = run.status()["fine_tuned_model"]
            try:
                create_deployment(run, h.deployment, model, sku=h.deployment_sku, poll=poll_seconds(h.poll_seconds))
            except (HostedError, UsageError) as e:
                message = e.message if isinstance(e, HostedError) else str(e)
                advice = e.advice if isinstance(e, HostedError) else []
                raise HostedError(f"{message} (after training: the fine-tuned model {model} is recorded)",
                                  kind=getattr(e, "kind", "auth"),
                                  advice=[*advice, "deploy and evaluate it with `" + deploy_command(run, h.deployment)
                                          + "` (nothing is trained again)"]) from None
        record_deployment(run, recipe, h.deployment)


def deploy_command(run: "RunDirectory", name: str) -> str:
    return f"ftwizard eval {run.path} --deployment {name} --create-deployment"


def record_deployment(run: "RunDirectory", recipe: "Recipe", name: str) -> None:
    """The deployment serves this run's fine-tune: evaluation names it, and cost.json prices its hours."""
    run.update_status(serving_model=name, deployment=name)
    record_serving_price(run, recipe, deployment=name)


def create_deployment(run: "RunDirectory", name: str, model: str, *, sku: str, poll: float) -> None:
    """Create (or find) deployment `name` serving `model`, and wait until Azure says it is ready."""
    from ftwizard.backends.hosted.azure_management import ManagementClient

    client = ManagementClient()
    st = run.status()
    if st.get("deployment_requested") != name:
        client.put_deployment(name, model, sku)
        run.update_status(deployment_requested=name)
        run.log(f"deployment {name} requested for {model} (billed per hour while it exists)", source="hosted")
    deadline = time.time() + 3 * 3600
    while True:
        d = client.get_deployment(name)
        state = (d.get("properties") or {}).get("provisioningState", "Unknown")
        if state != run.status().get("deployment_state"):
            run.update_status(deployment_state=state)
            run.log(f"deployment {name}: {state}", source="hosted")
        if state == "Succeeded":
            return
        if state in ("Failed", "Canceled"):
            raise HostedError(f"deployment {name} of {model} ended {state}", kind="api")
        if time.time() > deadline:
            raise HostedError(f"deployment {name} is still {state} after 3 hours", kind="api")
        time.sleep(poll)


def deploy_for_eval(run: "RunDirectory", name: str, *, create: bool) -> None:
    """`ftwizard eval RUN --deployment NAME [--create-deployment]`: record (and first create) the deployment that
    serves this run's fine-tune. A run whose job succeeded but whose deployment failed after training is
    finished by this: deployed, recorded, and (by the caller) evaluated."""
    recipe = run.recipe()
    if recipe.backend != "hosted" or recipe.hosted.provider != "azure":
        raise UsageError("--deployment names an Azure OpenAI deployment; this run is not an Azure run")
    st = run.status()
    if create:
        model = st.get("fine_tuned_model")
        if not model:
            raise UsageError(f"{run.path}: no fine-tuned model is recorded (the job has not succeeded): nothing to "
                             "deploy")
        from ftwizard.backends.hosted.azure_management import missing_account_vars

        missing = missing_account_vars()
        if missing:
            raise UsageError("--create-deployment uses the Azure management API: set " + ", ".join(missing))
        if st.get("deployment_requested") not in (None, name):
            run.update_status(deployment_requested=None, deployment_state=None)
        create_deployment(run, name, model, sku=recipe.hosted.deployment_sku,
                          poll=poll_seconds(recipe.hosted.poll_seconds))
    record_deployment(run, recipe, name)
    if create and st.get("state") == "failed" and st.get("job_status") == "succeeded":
        # What failed was the step after training; it is done now.
        run.update_status(state="succeeded", error=None, error_kind=None)
        run.append_event("status", state="succeeded", detail=f"deployment {name} made after training")
