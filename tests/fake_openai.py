"""A fake OpenAI-compatible HTTP server on 127.0.0.1 for tests: real sockets, the real openai SDK talks to it.

Endpoints (also under Azure's `/openai` prefix and `/openai/deployments/{name}/chat/completions`):
  POST /v1/files (multipart)           GET /v1/files, /v1/files/{id}, /v1/files/{id}/content
  POST /v1/fine_tuning/jobs            GET  /v1/fine_tuning/jobs (after, limit, metadata[k]=v)
  GET  /v1/fine_tuning/jobs/{id}       GET  /v1/fine_tuning/jobs/{id}/events (newest first, after, limit)
  POST /v1/fine_tuning/jobs/{id}/cancel
  POST /v1/chat/completions
Azure: `/openai/deployments/{name}/chat/completions` answers only for a deployment that exists and has
succeeded (else 404 DeploymentNotFound, as Azure does); deployments are made through the management route
  PUT|GET /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.CognitiveServices/accounts/{a}/deployments/{name}
(bearer `mgmt_token`; provisioningState Creating for `deployment_ticks` reads, then Succeeded). With
`file_processing_ticks`, an uploaded file stays `pending` for that many reads before it is `processed`.

A job advances one tick per `retrieve`: validating_files -> queued -> running (one metrics event per step)
-> succeeded (or the scripted failure). Failures are scripted per route with `fail(route, *entries)`:
  500 / 429 / (403, "training_not_available", "message") ...  answer with that error
  "lost"   do the work, then drop the connection without an answer (the client cannot know it happened)
  "slow"   do the work, then answer after `slow_s` seconds (longer than the client's timeout)
  "error-after"  do the work, then answer 500
Routes: files.create, files.list, files.content, jobs.create, jobs.list, jobs.retrieve, jobs.events,
jobs.cancel, chat.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

DEFAULT_KEY = "sk-fake-SECRET-0123456789abcdefXYZ"


def _words(text: str) -> int:
    return max(1, len(text.split()))


class FakeOpenAI:
    def __init__(self, *, api_key: str = DEFAULT_KEY, steps: int = 6, steps_per_tick: int = 2,
                 events_page_size: int | None = None, result_base64: bool = False,
                 outcome: str = "succeeded", error: dict | None = None, hold_running: bool = False,
                 slow_s: float = 3.0, chat_answer: Callable[[str, list[dict]], str] | None = None,
                 mgmt_token: str = "fake-azure-ad-TOKEN-0123456789", deployment_ticks: int = 2,
                 file_processing_ticks: int = 0):
        self.api_key = api_key
        self.steps = steps
        self.steps_per_tick = steps_per_tick
        self.events_page_size = events_page_size
        self.result_base64 = result_base64
        self.outcome = outcome
        self.error = error or {"code": "invalid_training_file", "param": "training_file",
                               "message": "The job failed due to an invalid training file."}
        self.hold_running = hold_running
        self.slow_s = slow_s
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
        self.lock = threading.RLock()
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_order: list[str] = []
        self.events: dict[str, list[dict]] = defaultdict(list)
        self.ticks: dict[str, int] = defaultdict(int)
        self.script: dict[str, deque] = defaultdict(deque)
        self.calls: dict[str, int] = defaultdict(int)
        self.requests: list[tuple[str, str]] = []
        self.chat_models: set[str] = set()
        self._memory: dict[str, dict[str, str]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------------
    def fail(self, route: str, *entries) -> "FakeOpenAI":
        self.script[route].extend(entries)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def endpoint(self) -> str:
        """The Azure-style endpoint (no /v1)."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def job_creates(self) -> int:
        """How many jobs exist: what would have been billed."""
        return len(self.jobs)

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- model of the service ----------------------------------------------------------------
    def add_file(self, content: bytes, filename: str, purpose: str) -> dict:
        fid = "file-" + uuid.uuid4().hex[:24]
        obj = {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()),
               "filename": filename, "purpose": purpose,
               "status": "pending" if self.file_processing_ticks and purpose == "fine-tune" else "processed"}
        self.files[fid] = {**obj, "_content": content}
        return obj

    def public_job(self, jid: str) -> dict:
        return {k: v for k, v in self.jobs[jid].items() if not k.startswith("_")}

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

    def public_file(self, fid: str) -> dict:
        return {k: v for k, v in self.files[fid].items() if not k.startswith("_")}

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
               "validation_file": body.get("validation_file"), "suffix": body.get("suffix"),
               "metadata": body.get("metadata"), "estimated_finish": None, "integrations": [],
               "method": {"type": "supervised", "supervised": {"hyperparameters": hp}}, "_azure": azure}
        self.jobs[jid] = job
        self.job_order.append(jid)
        self._event(jid, f"Created fine-tuning job: {jid}")
        return job

    def _event(self, jid: str, message: str, *, type: str = "message", data: dict | None = None,
               level: str = "info") -> None:
        self.events[jid].append({"object": "fine_tuning.job.event", "id": "ftevent-" + uuid.uuid4().hex[:20],
                                 "created_at": int(time.time()), "level": level, "message": message,
                                 "type": type, "data": data or {}})

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
                                        "message": f"The job failed due to an invalid training file. Expected file "
                                                   f"to have at least 10 lines, or valid JSON on every line."})
            job["status"] = "queued"
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

    def _succeed(self, jid: str) -> None:
        job = self.jobs[jid]
        examples = self._examples(job["training_file"]) or []
        epochs = job["hyperparameters"]["n_epochs"]
        epochs = 3 if epochs == "auto" else int(epochs)
        tokens = sum(4 + _words(m.get("content") or "") for ex in examples for m in ex["messages"]) + 3 * len(examples)
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
        suffix = job.get("suffix") or ""
        # Azure names a fine-tune `<base>.ft-<32 hex>` (its suffix after a dash); OpenAI `ft:<base>:org:suffix:id`.
        name = (f"{job['model']}.ft-{uuid.uuid4().hex}" + (f"-{suffix}" if suffix else "") if job.get("_azure")
                else f"ft:{job['model']}:fake-org:{suffix}:{jid[-8:]}")
        job.update(status="succeeded", finished_at=int(time.time()), trained_tokens=tokens * epochs,
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeOpenAI

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms a request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- plumbing ----------------------------------------------------------------------------
    def _send(self, status: int, obj: Any = None, *, raw: bytes | None = None, ctype: str = "application/json",
              headers: dict | None = None) -> None:
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:12])
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str | None, message: str, *, type: str = "invalid_request_error",
               headers: dict | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": type, "param": None, "code": code}},
                   headers=headers)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _managed_identity(self, query) -> None:
        """App Service's managed-identity endpoint (IDENTITY_ENDPOINT), as azure-identity calls it."""
        fake = self.server_fake
        if self.headers.get("X-IDENTITY-HEADER") != "fake-identity-header":
            return self._error(401, None, "missing X-IDENTITY-HEADER")
        token, expires = fake.issue_mgmt_token(fake.mi_token_lifetime_s)
        fake.mi_tokens_issued += 1
        self._send(200, {"access_token": token, "expires_on": str(int(expires)), "token_type": "Bearer",
                         "resource": dict(query).get("resource")})

    def _management(self, method: str, path: str, body: bytes, query) -> None:
        """Azure's management API for deployments (Microsoft.CognitiveServices/accounts/.../deployments)."""
        fake = self.server_fake
        if dict(query).get("api-version") != "2024-10-01":
            return self._error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        expires = fake.mgmt_tokens.get(token)
        if expires is None:
            return self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if expires <= time.time():
            return self._error(401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier "
                               "than current UTC time.")
        seg = path.split("/")
        # /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.CognitiveServices/accounts/{a}[/deployments/{n}]
        if len(seg) < 9 or seg[5:7] != ["providers", "Microsoft.CognitiveServices"] or seg[7] != "accounts":
            return self._error(404, None, f"Unknown route {method} {path}")
        if (seg[2], seg[4], seg[8]) not in fake.accounts:
            return self._error(404, "ResourceNotFound", f"The Resource 'Microsoft.CognitiveServices/accounts/{seg[8]}' "
                               f"under resource group '{seg[4]}' was not found.")
        if len(seg) == 9 and method == "GET":
            fake.calls["account.get"] += 1
            return self._send(200, {"id": path, "name": seg[8], "kind": "OpenAI", "location": "swedencentral",
                                    "properties": {"provisioningState": "Succeeded"}})
        if len(seg) != 11 or seg[9] != "deployments":
            return self._error(404, None, f"Unknown route {method} {path}")
        name = seg[-1]
        with fake.lock:
            fake.calls[f"deployments.{method.lower()}"] += 1
            entry = fake.script[f"deployments.{method.lower()}"].popleft() if fake.script[
                f"deployments.{method.lower()}"] else "ok"
            if isinstance(entry, int):
                return self._error(entry, None, "The server had an error.", headers={"retry-after": "0"})
            d = fake.deployments.get(name)
            if method == "PUT":
                req = json.loads(body or b"{}")
                model = ((req.get("properties") or {}).get("model") or {}).get("name")
                if not any(j.get("fine_tuned_model") == model for j in fake.jobs.values()):
                    return self._error(400, "InvalidResourceProperties", f"model {model} not found")
                if d is None:
                    d = fake.deployments[name] = {"model": model, "reads": 0, "sku": req.get("sku")}
            elif d is None:
                return self._error(404, "DeploymentNotFound", f"deployment {name} not found")
            else:
                d["reads"] += 1
            state = "Succeeded" if d["reads"] >= fake.deployment_ticks else "Creating"
            d["state"] = state
        self._send(200 if method == "GET" else 201,
                   {"id": path, "name": name, "sku": d["sku"],
                    "properties": {"model": {"format": "OpenAI", "name": d["model"], "version": "1"},
                                   "provisioningState": state}})

    def _dispatch(self, method: str) -> None:
        fake = self.server_fake
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qsl(parts.query)
        body = self._body()
        for prefix in ("/openai/v1", "/v1", "/openai"):
            if path.startswith(prefix + "/"):
                path = path[len(prefix):]
                break
        fake.requests.append((method, path))
        if path.startswith("/subscriptions/"):
            return self._management(method, path, body, query)
        if path == "/msi/token":
            return self._managed_identity(query)
        # Azure's data plane: the `api-key` header and an `api-version` query on every request.
        self.azure = parts.path.startswith("/openai/")
        if self.azure:
            key = self.headers.get("api-key")
            if not dict(query).get("api-version"):
                return self._error(404, "404", "Resource not found")
        else:
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if key != fake.api_key:
            return self._error(401, "invalid_api_key", f"Incorrect API key provided: {key}.")
        route, args = self._route(method, path)
        if route is None:
            return self._error(404, None, f"Unknown route {method} {path}")
        with fake.lock:
            fake.calls[route] += 1
            entry = fake.script[route].popleft() if fake.script[route] else "ok"
        if isinstance(entry, int):
            if entry == 429:
                return self._error(429, "rate_limit_exceeded", "Rate limit reached, slow down",
                                   type="requests", headers={"retry-after-ms": "10"})
            return self._error(entry, None, "The server had an error while processing your request.",
                               type="server_error")
        if isinstance(entry, tuple):
            status, code, message = entry
            return self._error(status, code, message)
        handler = getattr(self, "_h_" + route.replace(".", "_"))
        if route == "chat":  # completions run concurrently, as a real server's do
            status, obj, raw, ctype = handler(body, query, *args)
        else:
            with fake.lock:
                status, obj, raw, ctype = handler(body, query, *args)
        if entry == "error-after":  # did the work, then failed to say so
            return self._error(500, None, "The server had an error while processing your request.",
                               type="server_error")
        if entry == "lost":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if entry == "slow":
            time.sleep(fake.slow_s)
        if status >= 400:
            return self._error(status, obj.get("code"), obj.get("message", "error"))
        self._send(status, obj, raw=raw, ctype=ctype)

    def _route(self, method: str, path: str):
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

    # -- handlers: (status, obj, raw, ctype) ----------------------------------------------------
    def _h_files_create(self, body: bytes, query):
        ctype = self.headers.get("Content-Type", "")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        fields, content, filename = {}, b"", "upload.jsonl"
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                filename = part.get_filename()
                content = part.get_payload(decode=True) or b""
            else:
                fields[name] = (part.get_payload(decode=True) or b"").decode()
        return 200, self.server_fake.add_file(content, filename, fields.get("purpose", "")), None, None

    def _h_files_list(self, body, query):
        q = dict(query)
        data = [self.server_fake.public_file(f) for f in self.server_fake.files
                if not q.get("purpose") or self.server_fake.files[f]["purpose"] == q["purpose"]]
        return 200, {"object": "list", "data": data[::-1], "has_more": False}, None, None

    def _h_files_retrieve(self, body, query, fid):
        fake = self.server_fake
        if fid not in fake.files:
            return 404, {"code": None, "message": f"No such File object: {fid}"}, None, None
        fake.file_reads[fid] += 1
        if fake.files[fid]["status"] == "pending" and fake.file_reads[fid] >= fake.file_processing_ticks:
            fake.files[fid]["status"] = "processed"
        return 200, fake.public_file(fid), None, None

    def _h_files_content(self, body, query, fid):
        if fid not in self.server_fake.files:
            return 404, {"code": None, "message": f"No such File object: {fid}"}, None, None
        return 200, None, self.server_fake.files[fid]["_content"], "application/octet-stream"

    def _h_jobs_create(self, body: bytes, query):
        fake = self.server_fake
        req = json.loads(body or b"{}")
        if req.get("training_file") not in fake.files:
            return 400, {"code": "invalid_training_file",
                         "message": f"invalid training_file: {req.get('training_file')}"}, None, None
        for fid in (req.get("training_file"), req.get("validation_file")):
            if fid and fake.files[fid]["status"] != "processed":  # Azure: a file must be processed first
                return 400, {"code": "invalidPayload",
                             "message": f"The file {fid} has not been processed yet."}, None, None
        job = fake.create_job(req, azure=self.azure)
        return 200, fake.public_job(job["id"]), None, None

    def _h_jobs_list(self, body, query):
        fake = self.server_fake
        q = dict(query)
        meta = {k[len("metadata["):-1]: v for k, v in query if k.startswith("metadata[")}
        ids = fake.job_order[::-1]
        if meta:
            ids = [i for i in ids if all((fake.jobs[i].get("metadata") or {}).get(k) == v for k, v in meta.items())]
        if q.get("after") in ids:
            ids = ids[ids.index(q["after"]) + 1:]
        limit = int(q.get("limit", 20))
        page = ids[:limit]
        return 200, {"object": "list", "data": [fake.public_job(i) for i in page], "has_more": len(ids) > limit}, None, None

    def _h_jobs_retrieve(self, body, query, jid):
        fake = self.server_fake
        if jid not in fake.jobs:
            return 404, {"code": None, "message": f"No such fine-tuning job: {jid}"}, None, None
        fake.advance(jid)
        return 200, fake.public_job(jid), None, None

    def _h_jobs_events(self, body, query, jid):
        fake = self.server_fake
        if jid not in fake.jobs:
            return 404, {"code": None, "message": f"No such fine-tuning job: {jid}"}, None, None
        q = dict(query)
        evs = fake.events[jid][::-1]  # newest first, as the real API
        ids = [e["id"] for e in evs]
        if q.get("after") in ids:
            evs = evs[ids.index(q["after"]) + 1:]
        limit = int(q.get("limit", 20))
        if fake.events_page_size:
            limit = min(limit, fake.events_page_size)
        return 200, {"object": "list", "data": evs[:limit], "has_more": len(evs) > limit}, None, None

    def _h_jobs_cancel(self, body, query, jid):
        fake = self.server_fake
        if jid not in fake.jobs:
            return 404, {"code": None, "message": f"No such fine-tuning job: {jid}"}, None, None
        job = fake.jobs[jid]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return 400, {"code": None, "message": f"Job {jid} has already completed: {job['status']}"}, None, None
        job.update(status="cancelled", finished_at=int(time.time()), estimated_finish=None)
        fake._event(jid, "Fine-tuning job cancelled")
        return 200, fake.public_job(jid), None, None

    def _h_chat(self, body: bytes, query, deployment):
        fake = self.server_fake
        req = json.loads(body or b"{}")
        if deployment is not None:  # Azure: the path names a deployment, which must exist and be ready
            d = fake.deployments.get(deployment)
            if d is None or d.get("state") != "Succeeded":
                return 404, {"code": "DeploymentNotFound",
                             "message": f"The API deployment for this resource does not exist: {deployment}"}, None, None
            fake.chat_models.add(deployment)
        model = fake.deployments[deployment]["model"] if deployment is not None else req.get("model")
        messages = req.get("messages") or []
        known = deployment is not None or model in fake.chat_models or not str(model).startswith("ft:")
        if not known:
            return 404, {"code": "model_not_found", "message": f"The model `{model}` does not exist"}, None, None
        text = fake.answer(model, messages)
        max_tokens = req.get("max_tokens") or req.get("max_completion_tokens")
        if max_tokens:
            text = " ".join(text.split(" ")[: int(max_tokens)])
        prompt_tokens = sum(4 + _words(m.get("content") or "") for m in messages)
        completion_tokens = _words(text)
        return 200, {"id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion",
                     "created": int(time.time()), "model": model,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}],
                     "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                               "total_tokens": prompt_tokens + completion_tokens}}, None, None
