"""Fireworks AI fine-tuning (the `fireworks-ai` SDK, `pip install 'ftwizard[fireworks]'`): supervised LoRA jobs
on open models, the adapter downloadable, evaluation through an on-demand deployment or at home.

The SDK's routes (fireworks-ai 1.2.30, read from its source; every resource under accounts/{FIREWORKS_ACCOUNT_ID}):
POST .../datasets (`datasetId`, the dataset's metadata) -> POST .../datasets/{id}:upload (multipart) -> GET
.../datasets/{id} until `state` READY; POST .../supervisedFineTuningJobs?supervisedFineTuningJobId=ID (the
dataset, `baseModel`, `epochs`, `learningRate`, `loraRank`, `evaluationDataset`); GET .../{id} (`state`
JOB_STATE_*, `outputModel`, `status.message`); POST .../{id}:cancel; GET .../models/{id}:getDownloadEndpoint
(`filenameToSignedUrls`); deployments POST .../deployments?deploymentId=ID (`baseModel` = the fine-tuned model:
Fireworks' "live merge"), GET, DELETE.

Exactly once, by names this run chooses: the dataset and job ids are derived from the run's markers and
recorded before the request, so a create whose answer was lost is found by GET (or answered 409 ALREADY_EXISTS
when repeated) - never a second job. A fine-tune serves only on a deployment (Fireworks removed serverless
LoRA for current models in Dec 2025): with `hosted.create_deployment = true` the worker creates deployment
`hosted.deployment`, waits until READY, evaluates through `<model>#<deployment>` and deletes it, its hours
billed into cost.json; otherwise the adapter comes home and is evaluated on this machine (`model.base` +
adapter). Which one is chosen before launch and said by preflight.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwizard.backends.base import ProviderCapabilities
from ftwizard.backends.hosted import JobProvider
from ftwizard.backends.hosted.job import HostedJob, JobView, Outcome, record_serving_price, write_training_cost
from ftwizard.backends.hosted.providers import HostedError, poll_seconds, status_code
from ftwizard import fmt
from ftwizard.errors import UsageError
from ftwizard.fsutil import atomic_write_json, read_json
from ftwizard.settings import PROVIDER_KEY_ENV

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe
    from ftwizard.runs.directory import RunDirectory

OUTCOME: dict[str, Outcome] = {"JOB_STATE_COMPLETED": "succeeded", "JOB_STATE_EARLY_STOPPED": "succeeded",
                               "JOB_STATE_FAILED": "failed", "JOB_STATE_EXPIRED": "failed",
                               "JOB_STATE_CANCELLED": "cancelled"}
ID_MAX = 63  # Fireworks resource ids: lowercase letters, digits and hyphens, at most 63 characters
DEPLOYMENT_READY = "READY"
DEPLOYMENT_FAILED = ("FAILED", "DELETED", "DELETING")


def resource_id(text: str) -> str:
    """`text` as a Fireworks resource id (a-z, 0-9, '-'; at most 63; starts with a letter)."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    s = s if s[:1].isalpha() else "r-" + s
    return s[:ID_MAX].rstrip("-")


def _unix(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def job_view(job) -> JobView:
    state = str(getattr(job, "state", None) or "JOB_STATE_PENDING")
    name = getattr(job, "name", "") or ""
    return JobView(id=name.rsplit("/", 1)[-1], status=state, outcome=OUTCOME.get(state, "running"),
                   model=getattr(job, "base_model", None), raw=job)


def served_model(fine_tuned_model: str, account: str, deployment: str) -> str:
    """How a chat request names a model on an on-demand deployment (`<model>#<deployment>`, Fireworks docs:
    models/deploying, "Model identifier")."""
    return f"{fine_tuned_model}#accounts/{account}/deployments/{deployment}"


class FireworksJob(HostedJob):
    """A supervised fine-tuning job through the fireworks SDK."""

    @property
    def account(self) -> str:
        return self.cfg.account_id or ""

    # -- datasets -------------------------------------------------------------------------------
    @staticmethod
    def dataset_id(marker: str) -> str:
        return resource_id(marker.removesuffix(".jsonl"))

    def _dataset_name(self, dataset_id: str) -> str:
        return f"accounts/{self.account}/datasets/{dataset_id}"

    def upload_file(self, key: str, path: Path, marker: str) -> str:
        did = self.dataset_id(marker)
        n = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        existing = self._dataset(did)
        if existing is None:
            try:
                self.client.datasets.create(dataset_id=did, dataset={"display_name": marker, "format": "CHAT",
                                                                     "example_count": str(n), "user_uploaded": {}})
            except Exception as exc:  # noqa: BLE001 - 409: an earlier attempt made it (its answer was lost)
                if status_code(exc) != 409:
                    raise
            existing = self._dataset(did)
        if existing is None or existing.state != "READY":
            with open(path, "rb") as f:
                self.client.datasets.upload(did, file=(path.name, f.read()))
        self.await_ready(did)
        return self._dataset_name(did)

    def _dataset(self, did: str):
        try:
            return self.client.datasets.get(did)
        except Exception as exc:  # noqa: BLE001 - 404 only
            if status_code(exc) == 404:
                return None
            raise

    def find_upload(self, marker: str, size: int) -> str | None:
        d = self._call(lambda: self._dataset(self.dataset_id(marker)), "looking for the uploaded dataset")
        return self._dataset_name(self.dataset_id(marker)) if d is not None and d.state == "READY" else None

    def await_ready(self, did: str) -> None:
        deadline = time.time() + 3600
        while True:
            d = self._call(lambda: self.client.datasets.get(did), "waiting for the dataset", follow=True)
            if d.state == "READY":
                return
            status = getattr(d, "status", None)
            if status is not None and status.code not in (None, "OK"):
                raise HostedError(f"Fireworks could not take dataset {did}: {status.code} {status.message or ''}",
                                  kind="data", advice=["check the data with `ftwizard prepare RECIPE --out DIR`"])
            if time.time() > deadline:
                raise HostedError(f"dataset {did} is still {d.state} after an hour", kind="api",
                                  advice=["continue with `ftwizard run --resume RUN_DIR`"])
            self.sleep(self.poll)

    # -- the job ----------------------------------------------------------------------------------
    def job_id(self, marker: str) -> str:
        return resource_id(f"{self.run.name[:40]}-{marker[:12]}")

    def create_params(self, training_file: str, validation_file: str | None, marker: str) -> dict[str, Any]:
        h = self.recipe.hosted
        params: dict[str, Any] = {"dataset": training_file, "base_model": h.model,
                                  "supervised_fine_tuning_job_id": self.job_id(marker),
                                  "display_name": f"ftwizard {self.run.name}"[:128]}
        # The epochs our estimate counted (the plan's: the recipe's, or for "auto" the one rule the estimate
        # uses), sent explicitly so the bill and the estimate count the same passes.
        params["epochs"] = self.plan_epochs()
        if validation_file:
            params["evaluation_dataset"] = validation_file
        if h.learning_rate != "auto":
            params["learning_rate"] = float(h.learning_rate)
        if h.lora_r:
            params["lora_rank"] = int(h.lora_r)
        return params

    def create_job(self, params: dict[str, Any]) -> JobView:
        try:
            return job_view(self.client.supervised_fine_tuning_jobs.create(**params))
        except Exception as exc:  # noqa: BLE001 - 409: our id exists, i.e. an earlier create of this run took
            if status_code(exc) == 409:
                return self.retrieve(params["supervised_fine_tuning_job_id"])
            raise

    def find_created_job(self, training_file: str, marker: str) -> JobView | None:
        try:
            return self.retrieve(self.job_id(marker))
        except Exception as exc:  # noqa: BLE001 - 404 only
            if status_code(exc) == 404:
                return None
            raise

    def retrieve(self, job_id: str) -> JobView:
        return job_view(self.client.supervised_fine_tuning_jobs.get(job_id))

    def cancel_remote(self, job_id: str) -> None:
        self.client.supervised_fine_tuning_jobs.cancel(job_id, body={})

    def pull_events(self, job_id: str, job: JobView | None = None) -> int:
        """Fireworks has no event list: the job's progress (percent, epoch) becomes a log line when it moves."""
        progress = getattr(job.raw, "job_progress", None) if job is not None else None
        if progress is None or progress.percent is None:
            return 0
        key = f"progress-{progress.percent}-{progress.epoch}"
        if not self.new_event(key):
            return 0
        self.run.append_event("log", event_id=key, source="provider",
                              text=f"{progress.percent}% done" + (f", epoch {progress.epoch}" if progress.epoch else ""))
        self.seen_events.add(key)
        return 1

    def failure(self, job: JobView) -> HostedError:
        status = getattr(job.raw, "status", None)
        message = (getattr(status, "message", None) or "Fireworks gave no reason")
        code = getattr(status, "code", None)
        kind = "data" if code == "INVALID_ARGUMENT" else "api"
        return HostedError(f"job {job.id} ended {job.status}" + (f" ({code})" if code else "") + f": {message}",
                           kind=kind, code=code)

    def record_success(self, job: JobView) -> None:
        raw = job.raw
        model = raw.output_model
        st = self.status()
        billed = st.get("estimated_billed_tokens")  # Fireworks bills dataset tokens x epochs and reports no count
        start, end = _unix(getattr(raw, "create_time", None)), _unix(getattr(raw, "completed_time", None))
        est = getattr(raw, "estimated_cost", None)
        provider_usd = None
        if est is not None and (est.units is not None or est.nanos is not None):
            provider_usd = int(est.units or 0) + (est.nanos or 0) / 1e9
        self.run.update_status(fine_tuned_model=model, job_status=job.status, trained_tokens=billed)
        self.run.log(f"fine-tuned model: {model}", source="hosted")
        cost = write_training_cost(self.run, self.recipe.hosted.model, billed, provider="fireworks",
                                   hours=(end - start) / 3600 if start and end else None,
                                   provider_estimate_usd=provider_usd)
        if cost.get("training_usd") is not None:
            self.run.append_event("cost", usd=cost["training_usd"], kind="actual", what="training",
                                  detail=f"{billed:,} billed tokens (dataset x epochs) at "
                                         f"{fmt.rate(cost['training_usd_per_1m'], '1M')} ({cost['price_date']})")
        if self.recipe.hosted.download_adapter:
            self._call(lambda: self.download_adapter(model), "downloading the adapter", follow=True)

    def download_adapter(self, model: str) -> list[str]:
        """The model's files (Fireworks' PEFT adapter) from its signed URLs into the run's adapter/, whole or not at
        all (a staging folder moved into place)."""
        from ftwizard import settings
        from ftwizard.backends.hosted.adapter_files import check_download_url, fetch_url

        model_id = model.rsplit("/", 1)[-1]
        urls = self.client.models.get_download_endpoint(model_id).filename_to_signed_urls or {}
        if not urls:
            raise HostedError(f"Fireworks gave no download URLs for {model}", kind="api")
        max_bytes, max_files = settings.adapter_max_bytes(), settings.adapter_max_files()
        if len(urls) > max_files:
            raise HostedError(f"{model} has {len(urls)} files, over the limit of {max_files}", kind="api")
        stage = self.run.path / f".adapter-{uuid.uuid4().hex[:8]}"
        stage.mkdir()
        try:
            total = 0
            for name, url in sorted(urls.items()):
                rel = Path(name)
                if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                    raise HostedError(f"Fireworks named an unsafe file {name!r}: nothing was downloaded", kind="api")
                dest = stage / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                total += fetch_url(check_download_url(url, trusted_base=self.cfg.base_url), dest,
                                   max_bytes=max_bytes - total)
            target = self.run.adapter_dir
            if target.exists():
                shutil.rmtree(target)  # the run's own adapter/ (written by this step), replaced whole
            stage.rename(target)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        files = sorted(urls)
        self.run.update_status(adapter_downloaded=True, adapter_files=files)
        self.run.log(f"adapter of {model} downloaded into {self.run.adapter_dir} ({', '.join(files)})",
                     source="hosted")
        return files


class FireworksProvider(JobProvider):
    name = "fireworks"
    key_env = PROVIDER_KEY_ENV["fireworks"]
    base_url_env = "FIREWORKS_BASE_URL"
    sdk_module = "fireworks"
    sdk_extra = "fireworks"
    capabilities = ProviderCapabilities(
        training="job", data_formats=("chat",), methods=("lora",), weights_downloadable=True, serving="deployment",
        notes="a LoRA fine-tune serves only on an on-demand deployment billed per GPU-hour (serverless LoRA ended "
              "Dec 2025); the adapter downloads (get_download_endpoint) for evaluation at home")

    def make_job(self, run: "RunDirectory", recipe: "Recipe") -> "HostedJob":
        cfg = self.config(recipe)
        return FireworksJob(run, recipe, cfg.make_client(), cfg)

    @staticmethod
    def evaluates_on_deployment(recipe: "Recipe") -> bool:
        return recipe.eval.enabled and recipe.hosted.create_deployment

    def preflight_extra(self, recipe: "Recipe") -> list[str]:
        h = recipe.hosted
        problems = []
        if h.create_deployment and h.deployment and resource_id(h.deployment) != h.deployment:
            problems.append(f"hosted.deployment = {h.deployment!r}: a Fireworks deployment id is lowercase letters, "
                            f"digits and '-' (at most {ID_MAX}), e.g. {resource_id(h.deployment)!r}")
        if recipe.eval.enabled and not h.create_deployment:
            if not h.download_adapter:
                problems.append("eval.enabled on Fireworks needs a way to evaluate: hosted.create_deployment = true "
                                "(an on-demand deployment, billed per GPU-hour while it exists) or "
                                "hosted.download_adapter = true (evaluated at home on model.base + the adapter)")
            if not recipe.model.base:
                problems.append("evaluation at home (hosted.create_deployment = false) loads model.base with the "
                                "downloaded adapter: set model.base to the Hugging Face id of hosted.model")
        return problems

    def preflight_notes(self, recipe: "Recipe") -> list[str]:
        """How the fine-tune will be evaluated, said before anything is billed."""
        if not recipe.eval.enabled:
            return ["evaluation is off (eval.enabled = false)"]
        if self.evaluates_on_deployment(recipe):
            from ftwizard.catalog import get_hosted_model

            try:
                rate = get_hosted_model(recipe.hosted.model, "fireworks").hosting_usd_per_hour
            except UsageError:
                rate = None
            return [f"evaluation: on-demand deployment {self.deployment_name(recipe)!r} of the fine-tune, created "
                    "after training, used for the eval split, then deleted"
                    + (f" (billed per GPU-hour, {fmt.rate(rate, 'h')}, into cost.json)" if rate else "")]
        return [f"evaluation: at home, {recipe.model.base} + the downloaded adapter (no deployment is created)"]

    @staticmethod
    def deployment_name(recipe: "Recipe") -> str:
        return recipe.hosted.deployment or resource_id(f"{recipe.name}-eval")

    def after_training(self, run: "RunDirectory", recipe: "Recipe") -> None:
        if not self.evaluates_on_deployment(recipe):
            return
        cfg = self.config(recipe)
        model = run.status()["fine_tuned_model"]
        name = self.deployment_name(recipe)
        deployment = Deployment(run, cfg.make_client(), name, poll=poll_seconds(recipe.hosted.poll_seconds))
        record_serving_price(run, recipe, deployment=name)  # the rate its hours are priced at, whatever happens
        try:
            deployment.create_and_await(model)
        except HostedError as e:
            if run.status().get("deployment_requested") and not run.status().get("deployment_deleted"):
                deployment.delete()  # never left billing by a step that failed
            home = (f"`ftwizard eval {run.path} --local` evaluates the downloaded adapter at home"
                    if run.status().get("adapter_downloaded") else
                    f"`ftwizard run --resume {run.path}` tries the deployment again (nothing is retrained)")
            raise HostedError(f"{e.message} (after training: the fine-tuned model {model} is recorded)", kind=e.kind,
                              advice=[*e.advice, home]) from None
        run.update_status(serving_model=served_model(model, cfg.account_id or "", name), deployment=name)

    def after_evaluation(self, run: "RunDirectory", recipe: "Recipe") -> None:
        """The deployment made for evaluation is deleted (whatever evaluation did), its hours recorded."""
        st = run.status()
        if not st.get("deployment_requested") or st.get("deployment_deleted"):
            return
        cfg = self.config(recipe)
        Deployment(run, cfg.make_client(), st["deployment_requested"],
                   poll=poll_seconds(recipe.hosted.poll_seconds)).delete()

    def evaluates_at_home(self, recipe: "Recipe") -> bool:
        return recipe.eval.enabled and not recipe.hosted.create_deployment


class Deployment:
    """The on-demand deployment that serves a fine-tune for evaluation: created once (its id is ours and
    recorded before the request), awaited, deleted; its hours (created -> deleted) priced into cost.json."""

    def __init__(self, run: "RunDirectory", client, name: str, *, poll: float):
        self.run, self.client, self.name, self.poll = run, client, name, poll

    def create_and_await(self, model: str) -> None:
        from ftwizard.backends.hosted.providers import RetryPolicy, with_retries

        st = self.run.status()
        if st.get("deployment_requested") != self.name:
            self.run.update_status(deployment_requested=self.name, deployment_created_at=time.time())
            try:
                with_retries(lambda: self.client.deployments.create(
                    base_model=model, deployment_id=self.name, min_replica_count=1, max_replica_count=1,
                    display_name=f"ftwizard eval {self.run.name}"[:128]), what=f"creating deployment {self.name}",
                    policy=RetryPolicy())
            except HostedError as e:
                if e.status_code != 409:  # 409: this run's earlier request made it
                    raise
            self.run.log(f"deployment {self.name} requested for {model} (billed per GPU-hour until deleted)",
                         source="hosted")
        deadline = time.time() + 3 * 3600
        while True:
            d = with_retries(lambda: self.client.deployments.get(self.name), what=f"reading deployment {self.name}")
            state = d.state or "STATE_UNSPECIFIED"
            if state != self.run.status().get("deployment_state"):
                self.run.update_status(deployment_state=state)
                self.run.log(f"deployment {self.name}: {state}", source="hosted")
            if state == DEPLOYMENT_READY:
                return
            if state in DEPLOYMENT_FAILED:
                msg = getattr(d.status, "message", None) if d.status else None
                raise HostedError(f"deployment {self.name} of {model} ended {state}" + (f": {msg}" if msg else ""),
                                  kind="api")
            if time.time() > deadline:
                raise HostedError(f"deployment {self.name} is still {state} after 3 hours", kind="api")
            time.sleep(self.poll)

    def delete(self) -> None:
        from ftwizard.backends.hosted.providers import with_retries

        try:
            with_retries(lambda: self.client.deployments.delete(self.name), what=f"deleting deployment {self.name}")
        except HostedError as e:
            if e.status_code != 404:
                self.run.log(f"deployment {self.name} could not be deleted ({e.message}): delete it in the "
                             "Fireworks console, it bills per GPU-hour", level="error", source="hosted")
                raise
        now = time.time()
        st = self.run.status()
        hours = max(0.0, now - float(st.get("deployment_created_at") or now)) / 3600
        self.run.update_status(deployment_deleted=True, deployment_state="DELETED", deployment_hours=hours)
        self.run.log(f"deployment {self.name} deleted after {hours * 60:.1f} minutes", source="hosted")
        cost = read_json(self.run.cost_path, default={}) or {}
        rate = (cost.get("serving") or {}).get("hosting_usd_per_hour")
        cost["deployment_hours"] = round(hours, 6)
        cost["deployment_usd"] = round(hours * rate, 6) if rate else None
        atomic_write_json(self.run.cost_path, cost)
        if cost["deployment_usd"] is not None:
            self.run.append_event("cost", usd=cost["deployment_usd"], kind="actual", what="evaluation",
                                  detail=f"deployment {self.name}: {hours:.3f} GPU-hours at {fmt.rate(rate, 'h')}")
