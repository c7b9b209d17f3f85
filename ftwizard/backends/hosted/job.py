"""One hosted fine-tuning job, driven from its run directory: files -> upload -> create (exactly once) -> follow.

`HostedJob` is the one copy of the rules every job-API provider follows; a provider (`OpenAIJob` here,
`TogetherJob` in `together.py`) only says how to talk to its API (upload, create, list, retrieve, events,
cancel) and how a finished job is recorded.

Every id is written to status.json the moment it exists, so a crash, a dropped connection or a `--resume`
picks up the same files and the same job. A create whose outcome is unknown (timeout, dropped connection,
5xx) is never simply retried: the recent jobs are listed first and a job carrying this run's marker
(OpenAI: metadata `ftwizard_run`, or this run's own training file - OpenAI never shares a file id between
uploads; Together: the job's suffix only, since identical uploads there share one file id) is adopted instead. A worker that finds its job already finished records the end and never uploads again.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ftwizard.backends.hosted.providers import (
    HostedError,
    ProviderConfig,
    RetryPolicy,
    describe_transient,
    poll_seconds,
    redact,
    with_retries,
)
from ftwizard.errors import UsageError
from ftwizard.fmt import rate

if TYPE_CHECKING:
    from ftwizard.plan.hosted import HostedPlan
from ftwizard.fsutil import atomic_write_bytes
from ftwizard.runs.directory import RunDirectory

FINAL_JOB_STATUSES = ("succeeded", "failed", "cancelled")
RESULTS_FILE = "hosted_results.csv"
MARKER_KEY = "ftwizard_run"

Outcome = Literal["running", "succeeded", "failed", "cancelled"]


@dataclass
class JobView:
    """A provider's job in our terms: its id and own status, what that status means, and the raw object."""

    id: str
    status: str                       # the provider's own word (validating_files, compressing, ...)
    outcome: Outcome                  # running until the job is final
    model: str | None = None          # the base model as the provider names it
    estimated_finish: float | None = None
    raw: Any = None


# ---------------------------------------------------------------------------------------------
# Chat files

def render_chat_files(recipe, out_dir: Path) -> dict[str, Path]:
    """The training (and validation) chat files, as `ftwizard prepare` writes them."""
    from ftwizard.prepare import render_chat_files as prepare_render

    return prepare_render(recipe, out_dir)


def check_chat_file(path: Path, model: str, provider: str | None = None):
    """A provider's training file against the one chat rule with that provider's options
    (`chatfile.rules_for`), with its billed tokens; UsageError naming the file and lines when it is not valid."""
    from ftwizard.catalog import get_hosted_model
    from ftwizard.chatfile import MIN_EXAMPLES, check_chat_examples, rules_for
    from ftwizard.datasource import iter_jsonl_objects
    from ftwizard.tokens import TokenCounter, encoding_name_for_model

    examples: list[Any] = []
    lines: list[int] = []
    problems = []
    with open(path, encoding="utf-8") as f:
        for no, obj, problem in iter_jsonl_objects(f):
            if problem:
                problems.append(f"{path}: line {no}: {problem}")
            else:
                examples.append(obj)
                lines.append(no)
    try:
        entry = get_hosted_model(model, provider)
        max_tokens, encoding = entry.max_tokens_per_example, entry.encoding
    except UsageError:
        max_tokens, encoding = 16_385, encoding_name_for_model(model)
    report = check_chat_examples(examples, TokenCounter(encoding), max_tokens, rules_for(provider))
    for i, _kind, text in report.error_lines[:5]:
        problems.append(f"{path}: line {lines[i - 1]}: {text}")
    total = sum(report.errors.values())
    if total > 5:
        problems.append(f"{path}: {total} format errors in all: "
                        + ", ".join(f"{k} {v}" for k, v in report.errors.items() if v))
    if report.n_examples < MIN_EXAMPLES:
        problems.append(f"{path}: {report.n_examples} examples; at least {MIN_EXAMPLES} are required")
    if problems:
        raise UsageError(problems)
    return report


def hyperparameters(recipe) -> dict[str, Any]:
    h = recipe.hosted
    out: dict[str, Any] = {}
    if h.epochs != "auto":
        out["n_epochs"] = h.epochs
    if h.batch_size != "auto":
        out["batch_size"] = h.batch_size
    if h.lr_multiplier != "auto":
        out["learning_rate_multiplier"] = h.lr_multiplier
    return out


# ---------------------------------------------------------------------------------------------
# Result file (CSV, sometimes base64-encoded)

def decode_result_file(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    if text and "," not in text.splitlines()[0]:
        try:
            decoded = base64.b64decode(text, validate=False).decode("utf-8")
            if "," in decoded.splitlines()[0]:
                return decoded
        except (binascii.Error, UnicodeDecodeError, IndexError):
            pass
    return text + ("\n" if text else "")


def _num(v: str | None) -> float | int | None:
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return int(f) if f.is_integer() and "." not in v else f


def parse_result_csv(text: str) -> list[dict[str, Any]]:
    """Rows of the result file as metric dicts (`step`, `loss`, `eval_loss`, token accuracies)."""
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        m: dict[str, Any] = {"step": _num(r.get("step"))}
        if m["step"] is None:
            continue
        mapping = {"train_loss": "loss", "valid_loss": "eval_loss", "full_valid_loss": "eval_loss",
                   "train_accuracy": "train_mean_token_accuracy",
                   "train_mean_token_accuracy": "train_mean_token_accuracy",
                   "valid_mean_token_accuracy": "valid_mean_token_accuracy",
                   "full_valid_mean_token_accuracy": "valid_mean_token_accuracy"}
        for src, dst in mapping.items():
            v = _num(r.get(src))
            if v is not None and dst not in m:
                m[dst] = v
        rows.append(m)
    return rows


def metric_from_event_data(data: dict[str, Any]) -> dict[str, Any]:
    m: dict[str, Any] = {}
    if data.get("step") is not None:
        m["step"] = data["step"]
    if data.get("total_steps") is not None:
        m["max_steps"] = data["total_steps"]
    for src, dst in (("train_loss", "loss"), ("valid_loss", "eval_loss"), ("full_valid_loss", "eval_loss"),
                     ("train_mean_token_accuracy", "train_mean_token_accuracy"),
                     ("valid_mean_token_accuracy", "valid_mean_token_accuracy"),
                     ("full_valid_mean_token_accuracy", "valid_mean_token_accuracy"), ("epoch", "epoch")):
        if data.get(src) is not None and dst not in m:
            m[dst] = data[src]
    return m


# ---------------------------------------------------------------------------------------------
# Cost

def write_training_cost(run: RunDirectory, model: str, trained_tokens: int | None, *, hours: float | None = None,
                        provider: str = "openai", billed_usd: float | None = None,
                        **extra: Any) -> dict[str, Any]:
    """cost.json with the actual training cost.

    `training_usd` is what the provider billed when it says so (`billed_usd`, Together's `total_price`), else
    trained tokens x the catalog's rate (`ftwizard.pricing.hosted_training_cost`, the one place that does it);
    `training_usd_catalog` keeps the catalog's figure beside the bill either way.
    """
    from ftwizard.catalog import get_hosted_model
    from ftwizard.pricing import hosted_training_cost

    try:
        m = get_hosted_model(model, provider)
    except UsageError:
        m = None
    catalog = hosted_training_cost(m, billed_tokens=trained_tokens) if (m and trained_tokens is not None) else None
    usd = billed_usd if billed_usd is not None else (round(catalog["usd"], 4) if catalog else None)
    fields = {"training_usd": None if usd is None else round(usd, 4), "training_kind": "actual",
                 "training_usd_source": "provider bill" if billed_usd is not None else "catalog rate x trained tokens",
                 "training_usd_catalog": round(catalog["usd"], 4) if catalog else None,
                 "trained_tokens": trained_tokens,
                 "training_usd_per_1m": m.training_usd_per_1m if m else None, "hosted_model": model,
                 "provider": provider, "hours": round(hours, 4) if hours is not None else None,
                 "price_per_hour": None, "gpu": None,
                 "price_source": m.price_source if m else "not in the catalog",
                 "price_date": m.price_date if m else None, **extra}
    return run.update_cost(lambda cost: cost.setdefault("eval_usd", 0.0), **fields)


def record_serving_price(run: RunDirectory, recipe, **extra: Any) -> dict[str, Any] | None:
    """cost.json's `serving`: how the provider serves this fine-tune and at what price, from the catalog
    (`kind` serverless | dedicated | deployment; `hosting_usd_per_hour` for hourly hardware, per-token prices
    where it is billed per token), so the verdict can put hosted serving beside the user's own GPU."""
    from ftwizard.catalog import get_hosted_model

    try:
        m = get_hosted_model(recipe.hosted.model, recipe.hosted.provider)
    except UsageError:
        return None
    def serving(cost: dict) -> None:
        cost["serving"] = {**(cost.get("serving") or {}), "kind": m.serving, "provider": m.provider,
                           "hosting_usd_per_hour": m.hosting_usd_per_hour, "input_usd_per_1m": m.input_usd_per_1m,
                           "output_usd_per_1m": m.output_usd_per_1m, "weights_downloadable": m.weights_downloadable,
                           "price_source": m.price_source, "price_date": m.price_date, **extra}

    return run.update_cost(serving)["serving"]


def job_plan(recipe, report) -> "HostedPlan":
    """Our plan before anything is created: the chat file's billed tokens x the epochs of `ftwizard.plan.hosted`,
    at the catalog's rate (unpriced when the catalog does not list the model)."""
    from ftwizard.catalog import get_hosted_model
    from ftwizard.plan.hosted import hosted_plan

    h = recipe.hosted
    try:
        m = get_hosted_model(h.model, h.provider)
    except UsageError:
        m = None
    return hosted_plan(h.provider, h.model, m, examples=report.n_examples,
                       billed_tokens_per_epoch=report.billed_tokens_per_epoch, setting=h.epochs)


# ---------------------------------------------------------------------------------------------
# The job: the rules, once

class HostedJob:
    """Drives one job to its end. Subclasses implement the provider calls (the methods that raise
    NotImplementedError); everything else - recording ids, the exactly-once create, retries, following,
    events, cost - is here."""

    def __init__(self, run: RunDirectory, recipe, client, cfg: ProviderConfig, *, policy: RetryPolicy | None = None,
                 sleep=time.sleep):
        self.run = run
        self.recipe = recipe
        self.client = client
        self.cfg = cfg
        self.policy = policy or RetryPolicy(sleep=sleep)
        # Following survives long outages: the job goes on at the provider whatever happens here.
        self.follow_policy = RetryPolicy(base_s=self.policy.base_s, cap_s=60.0,
                                         max_attempts=max(self.policy.max_attempts, 40), sleep=sleep)
        self.sleep = sleep
        self.poll = poll_seconds(recipe.hosted.poll_seconds)
        self.seen_events: set[str] = set()
        self.metric_events = 0

    # -- provider calls (subclasses) ------------------------------------------------------------
    def upload_file(self, key: str, path: Path, marker: str) -> str:
        """Upload one chat file; returns its id. May raise the SDK's errors."""
        raise NotImplementedError

    def find_upload(self, marker: str, size: int) -> str | None:
        """The id of a file this run uploaded already (its answer was lost), or None."""
        return None

    def create_params(self, training_file: str, validation_file: str | None, marker: str) -> dict[str, Any]:
        raise NotImplementedError

    def create_job(self, params: dict[str, Any]) -> JobView:
        """One create request, never retried by the SDK."""
        raise NotImplementedError

    def find_created_job(self, training_file: str, marker: str) -> JobView | None:
        """A job this run created already (its marker, or this run's own training file), or None."""
        raise NotImplementedError

    def retrieve(self, job_id: str) -> JobView:
        raise NotImplementedError

    def pull_events(self, job_id: str, job: JobView | None = None) -> int:
        """New provider events into events.jsonl (oldest first, each once); returns how many."""
        raise NotImplementedError

    def cancel_remote(self, job_id: str) -> None:
        raise NotImplementedError

    def record_success(self, job: JobView) -> None:
        raise NotImplementedError

    def failure(self, job: JobView) -> HostedError:
        """Why the job failed, as the error the run ends with."""
        raise NotImplementedError

    def before_create(self, training_file: str, validation_file: str | None) -> None:
        """Last look before the (billed) create: Together prices the job here."""

    # -- helpers -------------------------------------------------------------------------------
    def _retry_note(self, what: str):
        def note(attempt: int, exc: BaseException, delay: float) -> None:
            self.run.log(f"{what}: {describe_transient(exc)}; retry {attempt} in {delay:.1f}s", level="warning",
                         source="hosted")
        return note

    def _call(self, fn, what: str, *, follow: bool = False):
        return with_retries(fn, what=what, policy=self.follow_policy if follow else self.policy,
                            on_retry=self._retry_note(what), cfg=self.cfg)

    def status(self) -> dict[str, Any]:
        return self.run.status()

    def new_event(self, event_id: str) -> bool:
        return event_id not in self.seen_events

    # -- the whole run ---------------------------------------------------------------------------
    def execute(self) -> str:
        """Drive the job to its end; returns the final outcome. Raises HostedError / UsageError."""
        st = self.status()
        self.seen_events = {e["event_id"] for e in self.run.iter_events(("log", "metric")) if e.get("event_id")}
        self.metric_events = sum(1 for e in self.run.iter_events(("metric",)) if e.get("event_id"))
        if not st.get("job_id"):
            paths = self.ensure_files()
            ids = {}
            for key, path in paths.items():
                ids[key] = self.ensure_uploaded(key, path)
            if self.status().get("cancel_requested"):
                self.run.update_status(state="cancelled", job_status=None)
                self.run.append_event("status", state="cancelled", detail="cancelled before the job was created")
                return "cancelled"
            self.ensure_job(ids["train"], ids.get("validation"))
        else:
            self.run.log(f"following job {st['job_id']} (recorded in status.json; no new job is created)",
                         source="hosted")
        return self.follow()

    # -- files --------------------------------------------------------------------------------------
    def ensure_files(self) -> dict[str, Path]:
        data = self.run.data_dir
        paths = {"train": data / "openai_train.jsonl"}
        if self.recipe.hosted.validation:
            paths["validation"] = data / "openai_validation.jsonl"
        if not all(p.exists() for p in paths.values()):
            paths = render_chat_files(self.recipe, data)
        h = self.recipe.hosted
        report = check_chat_file(paths["train"], h.model, h.provider)
        if "validation" in paths:
            check_chat_file(paths["validation"], h.model, h.provider)
        self._estimate(report)
        return paths

    def plan_epochs(self) -> int:
        """The epochs of the plan recorded before the create (`ftwizard.plan.hosted`, the estimate's): a provider
        without "auto" (Together, Fireworks) is sent what we priced."""
        epochs = self.status().get("estimated_epochs")
        if epochs is None:  # a run from before the plan was always recorded: the same rule on the file
            h = self.recipe.hosted
            report = check_chat_file(self.run.data_dir / "openai_train.jsonl", h.model, h.provider)
            epochs = job_plan(self.recipe, report).epochs
        return max(1, int(round(float(epochs))))

    def _estimate(self, report) -> None:
        plan = job_plan(self.recipe, report)
        # The epochs are recorded even unpriced: a provider without "auto" is sent these (create_params).
        self.run.update_status(estimated_billed_tokens=plan.billed_tokens, estimated_epochs=plan.epochs)
        if plan.usd is None:
            self.run.log(f"{self.recipe.hosted.model} is not in the price catalog: the cost cannot be estimated",
                         level="warning")
            return
        est = plan.as_dict()
        self.run.update_cost(estimated_training_usd=round(est["usd"], 4), estimated_billed_tokens=est["billed_tokens"],
                             estimated_epochs=est["epochs"], price_source=est["price_source"],
                             price_date=est["price_date"], training_usd_per_1m=est["usd_per_1m"],
                             provider=self.cfg.provider, hosted_model=self.recipe.hosted.model)
        self.run.append_event("cost", usd=round(est["usd"], 4), kind="estimated", what="training",
                              detail=f"{est['examples']} examples x {est['epochs']} epochs, {est['billed_tokens']:,} "
                                     f"billed tokens at {rate(est['usd_per_1m'], '1M')} ({est['price_date']})")

    def ensure_uploaded(self, key: str, path: Path) -> str:
        field = "training_file_id" if key == "train" else "validation_file_id"
        st = self.status()
        if st.get(field):
            return st[field]
        uploads = dict(st.get("uploads") or {})
        marker = uploads.get(key) or f"{self.run.name}-{key}-{uuid.uuid4().hex[:8]}.jsonl"
        uploads[key] = marker
        self.run.update_status(uploads=uploads)
        size = path.stat().st_size
        what = f"uploading the {'training' if key == 'train' else 'validation'} file"

        def found_upload(exc: BaseException) -> str | None:
            found = self.find_upload(marker, size)
            if found:
                self.run.log(f"the upload's answer was lost but the file exists: {found}", source="hosted")
            return found

        file_id = with_retries(lambda: self.upload_file(key, path, marker), what=what, policy=self.policy,
                               on_retry=self._retry_note(what), cfg=self.cfg, recover=found_upload)
        self.run.update_status(**{field: file_id})
        self.run.log(f"uploaded {path.name} as {file_id} ({size:,} bytes)", source="hosted")
        return file_id

    # -- the job: created exactly once ---------------------------------------------------------------
    def ensure_job(self, training_file: str, validation_file: str | None) -> None:
        st = self.status()
        marker = st.get("create_marker") or uuid.uuid4().hex
        fields: dict[str, Any] = {"create_marker": marker}
        if not st.get("create_first_attempt_at"):
            fields["create_first_attempt_at"] = time.time()
        self.run.update_status(**fields)
        if st.get("create_attempts"):
            # An earlier attempt (another worker, before a crash) may have created it: look before creating.
            job = self._call(lambda: self.find_created_job(training_file, marker),
                             "checking whether the job was created")
            if job is not None:
                self.run.log(f"found job {job.id} created by an earlier attempt; following it", source="hosted")
                return self._adopt(job)
        self.before_create(training_file, validation_file)
        params = self.create_params(training_file, validation_file, marker)
        what = "creating the fine-tuning job"

        def create() -> JobView:
            self.run.update_status(create_attempts=int(self.status().get("create_attempts") or 0) + 1,
                                   create_started_at=time.time())
            return self.create_job(params)

        def found_job(exc: BaseException) -> JobView | None:
            self.run.log(f"{what}: the answer was lost ({describe_transient(exc)}); checking whether the job "
                         "exists before trying again", level="warning", source="hosted")
            found = self._call(lambda: self.find_created_job(training_file, marker),
                               "checking whether the job was created")
            if found is not None:
                self.run.log(f"the job was created ({found.id}); following it, not creating another",
                             source="hosted")
            return found

        try:
            job = with_retries(create, what=what, policy=self.policy, on_retry=self._retry_note(what), cfg=self.cfg,
                               recover=found_job)
        except HostedError as err:
            if err.kind == "wind_down":
                err.advice += local_twins(self.recipe.task)
            raise
        self._adopt(job)

    def _adopt(self, job: JobView) -> None:
        self.run.update_status(job_id=job.id, job_status=job.status, job_outcome=job.outcome, base_model=job.model,
                               **self.adopted_fields(job))
        self.run.append_event("status", state="running", detail=job.status, job_id=job.id)
        self.run.log(f"job {job.id} created on {self.cfg.label}: {job.model}", source="hosted")
        if self.status().get("cancel_requested"):
            self.cancel_job()

    def adopted_fields(self, job: JobView) -> dict[str, Any]:
        """Extra status fields recorded with the job id (hyperparameters, output model name)."""
        return {}

    def cancel_job(self) -> None:
        job_id = self.status().get("job_id")
        if not job_id:
            return
        try:
            self._call(lambda: self.cancel_remote(job_id), "cancelling the job")
            self.run.log(f"cancel sent for job {job_id}", source="hosted")
        except HostedError as e:
            self.run.log(f"cancelling job {job_id}: {e.message}", level="warning", source="hosted")

    # -- following ---------------------------------------------------------------------------------------
    def follow(self) -> str:
        job_id = self.status()["job_id"]
        last = self.status().get("job_status_seen")
        cancel_sent = False
        while True:
            job = self._call(lambda: self.retrieve(job_id), "reading the job", follow=True)
            self._call(lambda: self.pull_events(job_id, job), "reading the job's events", follow=True)
            eta = job.estimated_finish
            if eta != self.status().get("estimated_finish"):
                self.run.update_status(estimated_finish=eta)
            if job.status != last:
                self.run.update_status(job_status=job.status, job_status_seen=job.status, job_outcome=job.outcome)
                # The run stays `running` after the job succeeds: results and evaluation come next.
                state = {"failed": "failed", "cancelled": "cancelled"}.get(job.outcome, "running")
                extra = {"estimated_finish": eta, "eta_s": max(0, round(eta - time.time()))} if eta else {}
                self.run.append_event("status", state=state, detail=job.status, job_id=job_id, **extra)
                last = job.status
            if job.outcome != "running":
                return self.finish(job)
            if self.status().get("cancel_requested") and not cancel_sent:
                self.cancel_job()
                cancel_sent = True
            self.sleep(self.poll)

    # -- the end -------------------------------------------------------------------------------------------
    def finish(self, job: JobView) -> str:
        if job.outcome == "succeeded":
            self.record_success(job)
        elif job.outcome == "failed":
            raise self.failure(job)
        return job.outcome


# ---------------------------------------------------------------------------------------------
# OpenAI and Azure OpenAI (the openai SDK)

OPENAI_OUTCOME: dict[str, Outcome] = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled"}


def openai_job_view(job) -> JobView:
    return JobView(id=job.id, status=job.status, outcome=OPENAI_OUTCOME.get(job.status, "running"),
                   model=job.model, estimated_finish=getattr(job, "estimated_finish", None), raw=job)


class OpenAIJob(HostedJob):
    """A fine-tuning job through the openai SDK (OpenAI, or Azure OpenAI with an AzureOpenAI client)."""

    def upload_file(self, key: str, path: Path, marker: str) -> str:
        return self.client.files.create(file=(marker, path.read_bytes()), purpose="fine-tune").id

    def find_upload(self, marker: str, size: int) -> str | None:
        try:
            files = self._call(lambda: self.client.files.list(purpose="fine-tune"), "listing files")
        except HostedError:
            return None
        for fo in getattr(files, "data", []) or []:
            if getattr(fo, "filename", None) == marker and getattr(fo, "bytes", size) == size:
                return fo.id
        return None

    def create_params(self, training_file: str, validation_file: str | None, marker: str) -> dict[str, Any]:
        h = self.recipe.hosted
        params: dict[str, Any] = {"model": h.model, "training_file": training_file}
        if validation_file:
            params["validation_file"] = validation_file
        if h.suffix:
            params["suffix"] = h.suffix
        if h.seed is not None:
            params["seed"] = h.seed
        hp = hyperparameters(self.recipe)
        if self.cfg.provider == "azure":
            if hp:
                params["hyperparameters"] = hp
        else:
            params["metadata"] = {MARKER_KEY: marker}
            if hp:
                params["method"] = {"type": "supervised", "supervised": {"hyperparameters": hp}}
        return params

    def create_job(self, params: dict[str, Any]) -> JobView:
        return openai_job_view(self.client.fine_tuning.jobs.create(**params))

    def find_created_job(self, training_file: str, marker: str) -> JobView | None:
        since = (self.status().get("create_first_attempt_at") or time.time()) - 3600
        page = self.client.fine_tuning.jobs.list(limit=50)
        for _ in range(4):  # the newest 200 jobs; anything older predates this run's first attempt
            for job in page.data:
                meta = getattr(job, "metadata", None) or {}
                if (isinstance(meta, dict) and meta.get(MARKER_KEY) == marker) or job.training_file == training_file:
                    return openai_job_view(job)
                if (job.created_at or 0) < since:
                    return None
            if not page.has_next_page():
                return None
            page = page.get_next_page()
        return None

    def adopted_fields(self, job: JobView) -> dict[str, Any]:
        return {"hyperparameters": _plain(job.raw.hyperparameters)}

    def retrieve(self, job_id: str) -> JobView:
        return openai_job_view(self.client.fine_tuning.jobs.retrieve(job_id))

    def cancel_remote(self, job_id: str) -> None:
        self.client.fine_tuning.jobs.cancel(job_id)

    def pull_events(self, job_id: str, job: JobView | None = None) -> int:
        """New provider events (newest first, paginated by `after`) into events.jsonl, oldest first, once each."""
        new = []
        for ev in self.client.fine_tuning.jobs.list_events(job_id, limit=100):
            if not self.new_event(ev.id):
                break
            new.append(ev)
        eta = job.estimated_finish if job is not None else None
        for ev in reversed(new):
            data = _plain(getattr(ev, "data", None)) or {}
            at = ev.created_at
            if ev.type == "metrics" and isinstance(data, dict) and data:
                fields = metric_from_event_data(data)
                if eta:
                    fields.update(eta_s=max(0, round(eta - time.time())), estimated_finish=eta)
                self.run.append_event("metric", event_id=ev.id, created_at=at, source="provider", **fields)
                self.metric_events += 1
            else:
                self.run.append_event("log", event_id=ev.id, created_at=at, source="provider",
                                      level=ev.level or "info", text=redact(ev.message))
            self.seen_events.add(ev.id)
        return len(new)

    def failure(self, job: JobView) -> HostedError:
        err = _plain(getattr(job.raw, "error", None)) or {}
        code = err.get("code") if isinstance(err, dict) else None
        message = (err.get("message") if isinstance(err, dict) else None) or "the provider gave no reason"
        kind = "data" if code and "file" in str(code) else "api"
        return HostedError(f"job {job.id} failed" + (f" ({code})" if code else "") + f": {message}", kind=kind,
                           code=code, advice=(["check the data with `ftwizard prepare RECIPE --out DIR`"]
                                              if kind == "data" else []))

    def record_success(self, job: JobView) -> None:
        j = job.raw
        hours = None
        if j.finished_at and j.created_at:
            hours = (j.finished_at - j.created_at) / 3600
        self.run.update_status(fine_tuned_model=j.fine_tuned_model, trained_tokens=j.trained_tokens,
                               result_file_id=(j.result_files or [None])[0], job_status=j.status)
        self.run.log(f"fine-tuned model: {j.fine_tuned_model} ({j.trained_tokens or 0:,} trained tokens)",
                     source="hosted")
        if j.result_files:
            try:
                self.save_results(j.result_files[0])
            except HostedError as e:
                self.run.log(f"result file {j.result_files[0]}: {e.message}", level="warning", source="hosted")
        cost = write_training_cost(self.run, j.model, j.trained_tokens, hours=hours, provider=self.cfg.provider)
        if cost.get("training_usd") is not None:
            self.run.append_event("cost", usd=cost["training_usd"], kind="actual", what="training",
                                  detail=f"{j.trained_tokens:,} trained tokens at {rate(cost['training_usd_per_1m'], '1M')} "
                                         f"({cost['price_date']})")

    def save_results(self, file_id: str) -> list[dict[str, Any]]:
        raw = self._call(lambda: self.client.files.content(file_id).content, "downloading the result file")
        text = decode_result_file(raw)
        atomic_write_bytes(self.run.path / RESULTS_FILE, text.encode("utf-8"))
        rows = parse_result_csv(text)
        if rows and self.metric_events == 0:  # no metric events came through: the result file has them all
            total = max(r["step"] for r in rows)
            for r in rows:
                self.run.append_event("metric", source="result_file", max_steps=total, **r)
        if rows:
            last = rows[-1]
            self.run.update_status(final_metrics={k: v for k, v in last.items()})
        return rows


def local_twins(task: str) -> list[str]:
    """Bundled recipes for the same task that run today (local LoRA, Together): the ways off a closed path."""
    from ftwizard.bundled import bundled_recipes

    twins = [r for r in bundled_recipes() if r.task == task and (r.backend == "local" or "together" in r.name)]
    return [f"a bundled recipe that runs today: `{r.command or 'ftwizard run ' + r.path.name}`" for r in twins]


def _plain(obj: Any) -> Any:
    if obj is None:
        return None
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json", exclude_none=True)
    return obj
