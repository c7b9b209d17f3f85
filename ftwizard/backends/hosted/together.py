"""Together AI fine-tuning (the `together` SDK, `pip install 'ftwizard[together]'`): LoRA on open models, the
adapter downloaded into the run's adapter/ so the same weights can be evaluated and served at home.

The SDK's routes (together 3.1.1, read from its source): upload is POST /v1/files (302 to a signed URL, with
the file id) -> PUT the bytes -> POST /v1/files/{id}/preprocess, and a file already uploaded (same SHA-256)
answers 409 with its id - so repeating an upload never makes a second file. Then POST
/v1/fine-tunes/estimate-price (recorded beside our own estimate), POST /v1/fine-tunes (create: the SDK would
retry it with no idempotency key, so our client has SDK retries off and a lost create is looked for by its
suffix in GET /v1/fine-tunes before any retry), GET /v1/fine-tunes/{id}, .../events (the whole list, no
pages; a failed job's reason is its `job_error` event), .../metrics (loss by step), POST .../cancel,
GET /v1/finetune/download?ft_id=&checkpoint=adapter (a zstd-compressed tar). `total_price` is in nano-dollars.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwizard.backends.base import ProviderCapabilities
from ftwizard.backends.hosted import JobProvider
from ftwizard.backends.hosted.adapter_files import extract_adapter
from ftwizard.backends.hosted.job import HostedJob, JobView, Outcome, record_serving_price, write_training_cost
from ftwizard.backends.hosted.providers import HostedError, redact
from ftwizard.errors import UsageError
from ftwizard.fmt import usd
from ftwizard.settings import PROVIDER_KEY_ENV

if TYPE_CHECKING:
    from ftwizard.recipe import Recipe
    from ftwizard.runs.directory import RunDirectory

OUTCOME: dict[str, Outcome] = {"completed": "succeeded", "error": "failed", "user_error": "failed",
                               "cancelled": "cancelled"}
SUFFIX_MAX = 40
# What `learning_rate = "auto"` means on Together: the API's own default (POST /v1/fine-tunes `learning_rate`,
# "default: 0.00001", docs.together.ai/reference/post-fine-tunes; the SDK's `create` default), sent explicitly
# and said before launch so the job never trains at a rate nobody stated.
DEFAULT_LEARNING_RATE = 1e-5
LR_SOURCE = "Together's API default (docs.together.ai/reference/post-fine-tunes)"


def learning_rate(recipe) -> tuple[float, str]:
    """The peak learning rate the job is created with, and where it comes from."""
    lr = recipe.hosted.learning_rate
    if lr == "auto":
        return DEFAULT_LEARNING_RATE, LR_SOURCE
    return float(lr), "hosted.learning_rate"


def _unix(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def together_job_view(job) -> JobView:
    status = str(getattr(job, "status", "") or "pending")
    eta = None
    progress = getattr(job, "progress", None)
    if progress is not None and getattr(progress, "estimate_available", False):
        eta = time.time() + float(progress.seconds_remaining or 0)
    return JobView(id=job.id, status=status, outcome=OUTCOME.get(status, "running"), model=getattr(job, "model", None),
                   estimated_finish=eta, raw=job)


def output_name(job) -> str | None:
    """The fine-tuned model's name: `output_name` on create's answer, `x_model_output_name` on retrieve/list."""
    return getattr(job, "output_name", None) or getattr(job, "x_model_output_name", None)


def job_suffix(recipe_suffix: str, marker: str) -> str:
    """The suffix this run's job carries: the recipe's, plus the run's marker (how a lost create is found)."""
    tag = f"ftw{marker[:10]}"
    return (f"{recipe_suffix[:SUFFIX_MAX - len(tag) - 1]}-{tag}" if recipe_suffix else tag)


def serverless_lora(model) -> bool:
    """Whether Together serves a LoRA fine-tune of this catalog model serverless, per token: only the bases
    docs.together.ai/docs/adapter-upload lists under "Supported base models" (read 2026-12-07: Llama 3.1 8B / 70B
    Instruct Reference, Llama 4 Maverick, Qwen2.5 72B Instruct, Qwen3 235B A22B Instruct 2507), marked
    `serverless_lora = true` in the catalog. Any other base serves only from a dedicated endpoint."""
    return bool(model.extra.get("serverless_lora"))


def eval_plan(recipe) -> dict[str, str] | None:
    """How a Together run's fine-tune is evaluated, decided before launch (None: evaluation is off):
    `serverless` (the job's output model through Together's chat API, per token) where the base is on the
    serverless-LoRA list, else `local` (the adapter comes home and is scored on this machine on model.base, as
    `ftwizard eval RUN --local` does). A dedicated endpoint is not created by ftwizard: a base off the list
    without the adapter download cannot be evaluated, and preflight says so before anything is billed."""
    from ftwizard.catalog import get_hosted_model

    if not recipe.eval.enabled:
        return None
    h = recipe.hosted
    try:
        m = get_hosted_model(h.model, h.provider)
    except UsageError:
        return None  # preflight names the unknown model
    if serverless_lora(m):
        return {"how": "serverless", "says": f"serverless LoRA on Together, per token ({m.id} is on Together's "
                                             "serverless-LoRA list)"}
    if h.download_adapter:
        return {"how": "local", "says": f"at home, {recipe.model.base} + the downloaded adapter (Together serves a "
                                        f"fine-tune of {m.id} only from a dedicated endpoint billed per minute, "
                                        "which ftwizard does not create)"}
    raise UsageError(f"eval.enabled on Together with hosted.model = {m.id!r} needs a way to evaluate: Together "
                     "serves its fine-tunes only from a dedicated endpoint (serverless LoRA covers a few listed "
                     "bases, docs.together.ai/docs/adapter-upload); set hosted.download_adapter = true (evaluated "
                     "at home on model.base + the adapter) or eval.enabled = false")


class TogetherJob(HostedJob):
    """A Together AI LoRA fine-tuning job through the `together` SDK."""

    limits = None

    # -- files ----------------------------------------------------------------------------------
    def upload_file(self, key: str, path: Path, marker: str) -> str:
        # Same bytes, same SHA-256: a repeated upload is answered with the existing file (409 -> its id).
        return self.client.files.upload(file=path, purpose="fine-tune", check=True).id

    # -- the create ----------------------------------------------------------------------------------
    def suffix(self, marker: str) -> str:
        return job_suffix(self.recipe.hosted.suffix, marker)

    def before_create(self, training_file: str, validation_file: str | None) -> None:
        """Together's own price for the job, recorded beside ours, before anything is billed. The estimate's
        body comes from the SDK's own request builder (`create_finetune_request`, the code its `create` runs),
        so it carries what the API requires (SFT `train_on_inputs`; LoRA `lora_r`, `lora_alpha`) and prices
        exactly the job that will be created."""
        from together.lib.resources.fine_tuning import create_finetune_request

        self.limits = self._call(lambda: self.client.fine_tuning.model_limits(model_name=self.recipe.hosted.model),
                                 "reading the model's limits")
        params = self.create_params(training_file, validation_file, "")
        try:
            request, training_type, training_method = create_finetune_request(model_limits=self.limits, **params)
        except ValueError as e:  # the SDK checks the settings against the model's limits before sending
            raise HostedError(f"Together's SDK refused the job settings before sending anything: {e}",
                              kind="data", advice=["adjust hosted.batch_size / learning_rate / lora_r"]) from None
        kwargs: dict[str, Any] = {"training_file": training_file, "model": params["model"],
                                  "n_epochs": request.n_epochs, "n_evals": request.n_evals or 0,
                                  "training_type": training_type, "training_method": training_method}
        if validation_file:
            kwargs["validation_file"] = validation_file
        est = self._call(lambda: self.client.fine_tuning.estimate_price(**kwargs), "asking Together for a price")
        if getattr(est, "estimation_available", False):
            price = getattr(est, "estimated_total_price", None)
            cost = self.run.update_cost(provider_estimate_usd=price,
                                        provider_estimate_train_tokens=est.estimated_train_token_count,
                                        provider_estimate_eval_tokens=est.estimated_eval_token_count,
                                        provider_estimate_allowed=est.allowed_to_proceed)
            self.run.append_event("cost", usd=price, kind="estimated", what="training", source="provider",
                                  detail=f"Together's estimate_price: {est.estimated_train_token_count:,.0f} training "
                                         f"tokens (ours: {usd(cost.get('estimated_training_usd'), unpriced='unpriced')})")
            if est.allowed_to_proceed is False:
                raise HostedError(f"Together estimates this job at {usd(price)}, above the account's limit "
                                  f"({usd(est.user_limit)}): no job was created", kind="quota",
                                  advice=["add credit on api.together.ai (Settings -> Billing), or train fewer "
                                          "epochs / examples"])
        else:
            self.run.update_cost(provider_estimate_usd=None, provider_estimate_unavailable=est.unavailable_reason)
            self.run.log(f"Together gave no price estimate ({est.unavailable_reason})", level="warning",
                         source="hosted")

    def create_params(self, training_file: str, validation_file: str | None, marker: str) -> dict[str, Any]:
        h = self.recipe.hosted
        epochs = self.plan_epochs()
        lr, _source = learning_rate(self.recipe)
        params: dict[str, Any] = {"training_file": training_file, "model": h.model, "n_epochs": epochs, "lora": True,
                                  "suffix": self.suffix(marker), "n_evals": h.n_evals, "train_on_inputs": "auto",
                                  "batch_size": h.batch_size if h.batch_size != "auto" else "max",
                                  "learning_rate": lr}
        if validation_file:
            params["validation_file"] = validation_file
        if h.lora_r is not None:
            params["lora_r"] = h.lora_r
        if h.lora_alpha is not None:
            params["lora_alpha"] = h.lora_alpha
        if h.seed is not None:
            params["random_seed"] = h.seed
        return params

    def create_job(self, params: dict[str, Any]) -> JobView:
        try:
            job = self.client.fine_tuning.create(**params, model_limits=self.limits)
        except ValueError as e:  # the SDK checks the settings against the model's limits before sending
            raise HostedError(f"Together's SDK refused the job settings before sending anything: {e}",
                              kind="data", advice=["adjust hosted.batch_size / learning_rate / lora_r"]) from None
        return together_job_view(job)

    def find_created_job(self, training_file: str, marker: str) -> JobView | None:
        """The job carrying this run's suffix (its marker), and nothing else: Together gives identical uploads
        the same file id, so the training file, the model or the time would also match another run's job."""
        suffix = self.suffix(marker)
        tag = job_suffix("", marker)
        for job in self.client.fine_tuning.list().data:
            if getattr(job, "suffix", None) == suffix or tag in (output_name(job) or ""):
                return together_job_view(job)
        return None

    def adopted_fields(self, job: JobView) -> dict[str, Any]:
        raw = job.raw
        lr, source = learning_rate(self.recipe)
        hp = {k: getattr(raw, k, None) for k in ("n_epochs", "batch_size", "learning_rate", "n_evals")}
        if hp.get("learning_rate") is None:
            hp["learning_rate"] = lr
        return {"output_model_name": output_name(raw), "job_suffix": getattr(raw, "suffix", None),
                "hyperparameters": hp, "learning_rate_source": source}

    # -- following -----------------------------------------------------------------------------------
    def retrieve(self, job_id: str) -> JobView:
        return together_job_view(self.client.fine_tuning.retrieve(job_id))

    def cancel_remote(self, job_id: str) -> None:
        self.client.fine_tuning.cancel(job_id)

    @staticmethod
    def event_key(ev) -> str:
        raw = f"{ev.created_at}|{ev.type}|{getattr(ev, 'step', None)}|{ev.message}"
        return "tg-" + hashlib.sha1(raw.encode("utf-8")).hexdigest()[:16]

    def pull_events(self, job_id: str, job: JobView | None = None) -> int:
        """Together's events (the whole list, oldest first) as log lines, once each; loss by step from the
        metrics endpoint, asked only for the steps not yet recorded."""
        events = self.client.fine_tuning.list_events(job_id).data
        last_step = int(self.status().get("metrics_step") or 0)
        metrics = self.client.fine_tuning.list_metrics(job_id, global_step_from=last_step).metrics or []
        n = 0
        st = self.status()
        total = st.get("total_steps")
        for ev in events:
            key = self.event_key(ev)
            if getattr(ev, "total_steps", None):
                total = ev.total_steps
            if not self.new_event(key):
                continue
            level = {"job_error": "error", "warning": "warning"}.get(ev.type, (ev.level or "info").replace(
                "legacy_i", "").replace("legacy_", ""))
            self.run.append_event("log", event_id=key, created_at=_unix(ev.created_at), source="provider",
                                  level=level if level in ("info", "warning", "error") else "info",
                                  text=redact(ev.message), provider_type=ev.type)
            if ev.type == "job_error":
                self.run.update_status(job_error=redact(ev.message))
            self.seen_events.add(key)
            n += 1
        if total and total != st.get("total_steps"):
            self.run.update_status(total_steps=total)
        eta = job.estimated_finish if job is not None else None
        # Together answers eval loss as rows of their own (`eval/loss`) at the same step as the training row;
        # each row is one metric event (`tg-step-N` / `tg-eval-N`), asked from the last recorded step on so a
        # late eval row at that step is not missed.
        for m in sorted(metrics, key=lambda m: (m.get("train/global_step", 0), "train/loss" not in m)):
            step = int(m.get("train/global_step") or 0)
            is_eval = m.get("eval/loss") is not None and m.get("train/loss") is None
            key = f"tg-{'eval' if is_eval else 'step'}-{step}"
            if step < last_step or (step == last_step and not is_eval) or not self.new_event(key):
                continue
            fields: dict[str, Any] = {"step": step}
            if total:
                fields["max_steps"] = total
            for src, dst in (("train/loss", "loss"), ("eval/loss", "eval_loss"), ("train/lr", "lr"),
                             ("train/epoch", "epoch")):
                if m.get(src) is not None:
                    fields[dst] = m[src]
            if eta:
                fields.update(eta_s=max(0, round(eta - time.time())), estimated_finish=eta)
            self.run.append_event("metric", event_id=key, source="provider", **fields)
            self.seen_events.add(key)
            self.metric_events += 1
            if not is_eval:
                last_step = step
            n += 1
        if last_step != int(st.get("metrics_step") or 0):
            self.run.update_status(metrics_step=last_step)
        return n

    # -- the end ---------------------------------------------------------------------------------------
    def failure(self, job: JobView) -> HostedError:
        reason = self.status().get("job_error") or "Together gave no reason (no job_error event)"
        kind = "data" if job.status == "user_error" or any(w in reason.lower() for w in ("dataset", "file", "format")) \
            else "api"
        return HostedError(f"job {job.id} failed ({job.status}): {reason}", kind=kind,
                           advice=(["check the data with `ftwizard prepare RECIPE --out DIR`"] if kind == "data"
                                   else []))

    def record_success(self, job: JobView) -> None:
        raw = job.raw
        name = output_name(raw)
        tokens = getattr(raw, "token_count", None)
        nano = getattr(raw, "total_price", None)
        billed = None if nano is None else nano / 1e9
        hours = None
        started, finished = _unix(getattr(raw, "created_at", None)), _unix(getattr(raw, "updated_at", None))
        if started and finished:
            hours = (finished - started) / 3600
        self.run.update_status(fine_tuned_model=name, output_model_name=name, trained_tokens=tokens,
                               job_status=job.status, total_price_nano_usd=nano)
        self.run.log(f"fine-tuned model: {name} ({tokens or 0:,} tokens)", source="hosted")
        cost = write_training_cost(self.run, self.recipe.hosted.model, tokens, hours=hours, provider="together",
                                   billed_usd=billed, total_price_nano_usd=nano)
        if cost.get("training_usd") is not None:
            self.run.append_event("cost", usd=cost["training_usd"], kind="actual", what="training",
                                  detail=f"Together's total_price for job {job.id} ({tokens or 0:,} tokens; catalog "
                                         f"rate gives {usd(cost.get('training_usd_catalog'), unpriced='unpriced')})")
        plan = eval_plan(self.recipe)
        if plan and plan["how"] == "serverless":  # the serving this run uses, not the catalog's dedicated option
            record_serving_price(self.run, self.recipe, model=name, kind="serverless", hosting_usd_per_hour=None,
                                 evaluated="serverless LoRA, per token")
        else:
            record_serving_price(self.run, self.recipe, model=name,
                                 evaluated="at home" if plan else "not evaluated")
        if self.recipe.hosted.download_adapter:
            self.download_adapter(job.id)

    def download_adapter(self, job_id: str) -> None:
        """The trained LoRA adapter into the run's adapter/ (a GET: safe to repeat after any failure). A body cut
        short or a dropped connection is retried by the follow policy; the archive is written whole under a
        .partial name first and removed whatever happens, so no half file is left behind."""
        archive = self.run.path / "adapter_download.tar"
        part = archive.with_name(archive.name + ".partial")

        def fetch() -> None:
            with self.client.fine_tuning.with_streaming_response.content(ft_id=job_id, checkpoint="adapter") as r:
                r.stream_to_file(part)
            part.replace(archive)

        try:
            self._call(fetch, "downloading the adapter", follow=True)
            size = archive.stat().st_size
            files = extract_adapter(archive, self.run.adapter_dir)
        finally:
            part.unlink(missing_ok=True)
            archive.unlink(missing_ok=True)
        self.run.update_status(adapter_downloaded=True, adapter_archive_bytes=size, adapter_files=files)
        self.run.update_cost(weights_downloaded=True)
        self.run.log(f"adapter downloaded into {self.run.adapter_dir} ({size:,} bytes compressed; "
                     f"{', '.join(files)})", source="hosted")


class TogetherProvider(JobProvider):
    name = "together"
    key_env = PROVIDER_KEY_ENV["together"]
    base_url_env = "TOGETHER_BASE_URL"
    sdk_extra = "together"
    sdk_module = "together"
    capabilities = ProviderCapabilities(
        training="job", data_formats=("chat", "prompt_completion", "text"), methods=("lora", "full"),
        weights_downloadable=True, serving="dedicated",
        notes="LoRA adapters download (checkpoint=adapter); a fine-tune serves on a dedicated endpoint billed per "
              "minute, or serverless LoRA for a few bases")

    job_class = TogetherJob

    def fetch_adapter(self, run: "RunDirectory") -> str:
        """The succeeded job's adapter again (a GET of what was paid for; never a new job), while no worker
        runs on the run (its lock is held for the download)."""
        from ftwizard.runs import liveness
        from ftwizard.backends.hosted import failed_phase

        st = run.status()
        job_id = st.get("job_id")
        if not job_id or failed_phase(st) != "after_job":
            raise UsageError(f"{run.path}: no succeeded Together job is recorded (job {job_id or 'none'}, state "
                             f"{st.get('state', 'pending')}), so there is no adapter to download yet"
                             + (f"; follow it with `ftwizard run --resume {run.path}`"
                                if job_id and self.resume_refusal(run) is None else ""))
        with liveness.claim(run):
            job = self.make_job(run, run.recipe())
            job.download_adapter(job_id)
        files = ", ".join(run.status().get("adapter_files") or [])
        return f"adapter of job {job_id} downloaded into {run.adapter_dir} ({files})"

    def preflight_extra(self, recipe: "Recipe") -> list[str]:
        import importlib.util

        problems = []
        if recipe.hosted.download_adapter and importlib.util.find_spec("zstandard") is None:
            problems.append("the adapter downloads as a zstd archive: pip install 'ftwizard[together]' (zstandard)")
        try:
            eval_plan(recipe)
        except UsageError as e:
            problems += e.problems
        return problems

    def preflight_notes(self, recipe: "Recipe") -> list[str]:
        """How the fine-tune will be evaluated and at what learning rate it trains, said before anything is
        billed."""
        lr, source = learning_rate(recipe)
        plan = eval_plan(recipe)
        return [f"evaluation: {plan['says']}" if plan else "evaluation is off (eval.enabled = false)",
                f"learning rate: {lr:g} ({source})"]

    def evaluates_at_home(self, recipe: "Recipe") -> bool:
        plan = eval_plan(recipe)
        return bool(plan) and plan["how"] == "local"
