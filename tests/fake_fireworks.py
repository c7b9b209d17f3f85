"""A fake Fireworks AI server on 127.0.0.1 for tests: real sockets, the real `fireworks-ai` SDK talks to it
(FIREWORKS_BASE_URL = `fake.url`; with a base URL set, the SDK sends every path relative to it).

Answers are the SDK's own response types (`Dataset`, `DatasetUploadResponse`, `SupervisedFineTuningJob`,
`Deployment`, `ModelGetDownloadEndpointResponse`; chat as openai's `ChatCompletion`, Fireworks' API being
OpenAI-compatible), validated on the way out; request bodies are checked against the SDK's parameter TypedDicts
on their camelCase wire names (tests/fakes/base.py). Enforced as the service does: `Authorization: Bearer KEY`,
resources under the caller's account, ids the caller chooses (`datasetId`, `supervisedFineTuningJobId`,
`deploymentId`) unique - a repeat is 409 ALREADY_EXISTS; a job only on a READY dataset; a fine-tune served only on
a READY deployment of it (`<model>#accounts/A/deployments/D`), never serverless.

Routes (account A): POST /v1/accounts/A/datasets, POST .../datasets/{id}:upload, GET .../datasets/{id};
POST .../supervisedFineTuningJobs?supervisedFineTuningJobId=, GET .../supervisedFineTuningJobs/{id}, POST
.../{id}:cancel; GET .../models/{id}:getDownloadEndpoint, GET /signed/{token}; POST .../deployments?deploymentId=,
GET / DELETE .../deployments/{id}; POST /inference/v1/chat/completions. A job advances one tick per GET:
JOB_STATE_VALIDATING -> JOB_STATE_RUNNING (progress) -> JOB_STATE_COMPLETED (or the scripted failure).
Faults per route with `fail(route, *entries)`: datasets.create, datasets.upload, datasets.get, jobs.create,
jobs.get, jobs.cancel, download, deployments.create, deployments.get, deployments.delete, chat.
The error body's shape ({"code", "message", "details"}, gRPC-gateway style) is an assumption: not documented.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.base import FakeHandler, FakeJobService, Reply, parse_multipart, sdk_json, sdk_request

DEFAULT_KEY = "fw_FAKE-fireworks-SECRET-0123456789abcdef"
ACCOUNT = "fake-acct"
GRPC = {400: (3, "INVALID_ARGUMENT"), 401: (16, "UNAUTHENTICATED"), 403: (7, "PERMISSION_DENIED"),
        404: (5, "NOT_FOUND"), 409: (6, "ALREADY_EXISTS"), 429: (8, "RESOURCE_EXHAUSTED"), 500: (13, "INTERNAL"),
        502: (14, "UNAVAILABLE"), 503: (14, "UNAVAILABLE")}


def _iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(t or time.time(), tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _types():
    from fireworks.types import (
        Dataset,
        DatasetUploadResponse,
        Deployment,
        ModelGetDownloadEndpointResponse,
        SupervisedFineTuningJob,
    )

    return Dataset, DatasetUploadResponse, Deployment, ModelGetDownloadEndpointResponse, SupervisedFineTuningJob


class FakeFireworks(FakeJobService):
    def __init__(self, *, api_key: str = DEFAULT_KEY, account: str = ACCOUNT, steps: int = 4,
                 outcome: str = "JOB_STATE_COMPLETED", hold_running: bool = False, deployment_ticks: int = 2,
                 dataset_ticks: int = 1, adapter_files: dict[str, bytes] | None = None, slow_s: float = 3.0):
        super().__init__(slow_s=slow_s)
        self.api_key, self.account = api_key, account
        self.steps, self.outcome, self.hold_running = steps, outcome, hold_running
        self.deployment_ticks, self.dataset_ticks = deployment_ticks, dataset_ticks
        self.adapter_files = adapter_files or {"adapter_config.json": b'{"r": 16, "peft_type": "LORA"}',
                                               "adapter_model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.deleted_deployments: list[str] = []
        self.deployment_failure: dict | None = None  # e.g. {"code": "RESOURCE_EXHAUSTED", "message": ...}
        self.ticks: dict[str, int] = defaultdict(int)
        self.chat_models: list[str] = []
        self.create_bodies: list[dict] = []

    @property
    def url(self) -> str:
        return self.origin

    # -- model of the service ---------------------------------------------------------------
    def dataset_json(self, did: str) -> dict:
        d = self.datasets[did]
        if d["state"] == "UPLOADING" and d.get("_uploaded"):
            d["_reads"] += 1
            if d["_reads"] >= self.dataset_ticks:
                d["state"] = "READY"
        return sdk_json(_types()[0], {k: v for k, v in d.items() if not k.startswith("_")})

    def job_json(self, jid: str) -> dict:
        return sdk_json(_types()[4], {k: v for k, v in self.jobs[jid].items() if not k.startswith("_")})

    def examples(self, dataset_name: str | None) -> list[dict]:
        did = (dataset_name or "").rsplit("/", 1)[-1]
        raw = self.datasets.get(did, {}).get("_content", b"")
        return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]

    def advance(self, jid: str) -> None:
        job = self.jobs[jid]
        if job["state"] in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return
        self.ticks[jid] += 1
        t = self.ticks[jid]
        if t == 1:
            job["state"] = "JOB_STATE_RUNNING"
            job["jobProgress"] = {"percent": 0, "epoch": 0}
            return
        if self.hold_running:
            return
        done = min(self.steps, t - 1)
        job["jobProgress"] = {"percent": int(100 * done / self.steps), "epoch": 1 + (done - 1) * job["epochs"]
                              // self.steps}
        if self.outcome == "JOB_STATE_FAILED" and done * 2 >= self.steps:
            job.update(state="JOB_STATE_FAILED", status={"code": "INTERNAL", "message": "Training failed on the "
                                                         "trainer node"}, completedTime=_iso())
            return
        if done >= self.steps:
            job.update(state="JOB_STATE_COMPLETED", completedTime=_iso(), outputModel=job["_output"],
                       estimatedCost={"currencyCode": "USD", "units": "1", "nanos": 250_000_000})

    def answer(self, model: str, messages: list[dict]) -> str:
        job = next((j for j in self.jobs.values() if j.get("outputModel") == model), None)
        if job is None:
            return "I do not know."
        for ex in self.examples(job["dataset"]) + self.examples(job.get("evaluationDataset")):
            prompt = [m for m in ex["messages"] if m["role"] != "assistant"]
            if prompt == messages:
                return next(m["content"] for m in ex["messages"] if m["role"] == "assistant")
        return "I do not know."

    class Handler(FakeHandler):
        def fault(self, status: int, *details) -> Reply:
            code, name = GRPC.get(status, (2, "UNKNOWN"))
            message = details[-1] if details else f"{name.lower()} (fake fault)"
            return Reply(status, {"code": code, "message": message, "details": []},
                         headers={"Retry-After": "0"} if status == 429 else {})

        def dispatch(self, method: str) -> None:
            fake = self.fake
            parts = urlsplit(self.path)
            path, query = parts.path, dict(parse_qsl(parts.query))
            body = self.read_body()
            fake.requests.append((method, path))
            if path.startswith("/signed/") and method == "GET":  # a signed URL carries its own authority
                return self.serve_signed("download", path.removeprefix("/signed/"))
            if self.bearer() != fake.api_key:
                return self.send_reply(self.fault(401, "invalid API key"))
            if path == "/inference/v1/chat/completions" and method == "POST":
                return self.serve("chat", lambda: self._chat(body), locked=False)
            seg = path.split("/")
            prefix = ["", "v1", "accounts", fake.account]
            if seg[:4] != prefix:
                return self.send_reply(self.fault(404 if seg[:3] == prefix[:3] else 404, f"no route {path}"))
            rest = seg[4:]
            kind, _, action = (rest[1] if len(rest) > 1 else "").partition(":")
            route = None
            if rest == ["datasets"] and method == "POST":
                route, work = "datasets.create", lambda: self._dataset_create(body)
            elif rest[:1] == ["datasets"] and len(rest) == 2 and action == "upload" and method == "POST":
                route, work = "datasets.upload", lambda: self._dataset_upload(kind, body)
            elif rest[:1] == ["datasets"] and len(rest) == 2 and not action and method == "GET":
                route, work = "datasets.get", lambda: self._dataset_get(kind)
            elif rest == ["supervisedFineTuningJobs"] and method == "POST":
                route, work = "jobs.create", lambda: self._job_create(body, query)
            elif rest[:1] == ["supervisedFineTuningJobs"] and len(rest) == 2 and not action and method == "GET":
                route, work = "jobs.get", lambda: self._job_get(kind)
            elif rest[:1] == ["supervisedFineTuningJobs"] and len(rest) == 2 and action == "cancel":
                route, work = "jobs.cancel", lambda: self._job_cancel(kind)
            elif rest[:1] == ["models"] and len(rest) == 2 and action == "getDownloadEndpoint" and method == "GET":
                route, work = "models.download_endpoint", lambda: self._download_endpoint(kind)
            elif rest == ["deployments"] and method == "POST":
                route, work = "deployments.create", lambda: self._deployment_create(body, query)
            elif rest[:1] == ["deployments"] and len(rest) == 2 and method in ("GET", "DELETE"):
                route, work = f"deployments.{method.lower()}", lambda: self._deployment(method, kind)
            if route is None:
                return self.send_reply(self.fault(404, f"no route {method} {path}"))
            self.serve(route, work)

        def _create(self, params_type, body: bytes, store: dict, rid: str | None, what: str):
            """A create request: its body as the SDK's TypedDict accepts it, and an id not taken (409 else);
            returns (request, id) or (None, the refusal)."""
            req = json.loads(body or b"{}")
            problem = sdk_request(params_type, req)
            if problem:
                return None, self.fault(400, problem)
            rid = rid or uuid.uuid4().hex[:12]
            if rid in store:
                return None, self.fault(409, f"{what} {rid} already exists")
            return req, rid

        # -- datasets ------------------------------------------------------------------------
        def _dataset_create(self, body: bytes) -> Reply:
            from fireworks.types.dataset_create_params import DatasetCreateParams

            fake = self.fake
            req, did = self._create(DatasetCreateParams, body, fake.datasets,
                                    json.loads(body or b"{}").get("datasetId"), "dataset")
            if req is None:
                return did
            fake.datasets[did] = {**req["dataset"], "name": f"accounts/{fake.account}/datasets/{did}",
                                  "state": "UPLOADING", "createTime": _iso(), "_reads": 0}
            return Reply(200, fake.dataset_json(did))

        def _dataset_upload(self, did: str, body: bytes) -> Reply:
            fake = self.fake
            if did not in fake.datasets:
                return self.fault(404, f"dataset {did} not found")
            _fields, files = parse_multipart(self.headers.get("Content-Type", ""), body)
            if "file" not in files:
                return self.fault(400, "file is required")
            d = fake.datasets[did]
            if d["state"] == "READY":
                return self.fault(400, f"dataset {did} is already uploaded")
            d.update(_content=files["file"][1], _uploaded=True)
            return Reply(200, sdk_json(_types()[1], {"id": did, "object": "file", "bytes": len(files["file"][1]),
                                                     "created_at": int(time.time()), "filename": files["file"][0],
                                                     "purpose": "fine-tune"}))

        def _dataset_get(self, did: str) -> Reply:
            if did not in self.fake.datasets:
                return self.fault(404, f"dataset {did} not found")
            return Reply(200, self.fake.dataset_json(did))

        # -- jobs ------------------------------------------------------------------------------
        def _job_create(self, body: bytes, query: dict) -> Reply:
            from fireworks.types.supervised_fine_tuning_job_create_params import SupervisedFineTuningJobCreateParams

            fake = self.fake
            req, jid = self._create(SupervisedFineTuningJobCreateParams, body, fake.jobs,
                                    query.get("supervisedFineTuningJobId"), "supervisedFineTuningJob")
            if req is None:
                return jid
            did = req["dataset"].rsplit("/", 1)[-1]
            for name in (req["dataset"], req.get("evaluationDataset")):
                if name and fake.datasets.get(name.rsplit("/", 1)[-1], {}).get("state") != "READY":
                    return self.fault(400, f"dataset {name} is not READY")
            if did not in fake.datasets:
                return self.fault(400, f"dataset {req['dataset']} not found")
            fake.create_bodies.append(req)
            fake.jobs[jid] = {**req, "name": f"accounts/{fake.account}/supervisedFineTuningJobs/{jid}",
                              "state": "JOB_STATE_VALIDATING", "createTime": _iso(), "epochs": req.get("epochs", 1),
                              "_output": f"accounts/{fake.account}/models/{req.get('outputModel') or jid}"}
            return Reply(200, fake.job_json(jid))

        def _job_get(self, jid: str) -> Reply:
            if jid not in self.fake.jobs:
                return self.fault(404, f"supervisedFineTuningJob {jid} not found")
            self.fake.advance(jid)
            return Reply(200, self.fake.job_json(jid))

        def _job_cancel(self, jid: str) -> Reply:
            job = self.fake.jobs.get(jid)
            if job is None:
                return self.fault(404, f"supervisedFineTuningJob {jid} not found")
            if job["state"] in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
                return self.fault(400, f"job {jid} is already {job['state']}")
            job.update(state="JOB_STATE_CANCELLED", completedTime=_iso())
            return Reply(200, {})

        def _download_endpoint(self, model_id: str) -> Reply:
            fake = self.fake
            name = f"accounts/{fake.account}/models/{model_id}"
            if not any(j.get("outputModel") == name for j in fake.jobs.values()):
                return self.fault(404, f"model {name} not found")
            return Reply(200, sdk_json(_types()[3], {"filenameToSignedUrls": fake.sign(fake.adapter_files)}))

        # -- deployments -----------------------------------------------------------------------
        def _deployment_create(self, body: bytes, query: dict) -> Reply:
            from fireworks.types.deployment_create_params import DeploymentCreateParams

            fake = self.fake
            req, did = self._create(DeploymentCreateParams, body, fake.deployments, query.get("deploymentId"),
                                    "deployment")
            if req is None:
                return did
            if not any(j.get("outputModel") == req["baseModel"] for j in fake.jobs.values()):
                return self.fault(400, f"model {req['baseModel']} not found")
            fake.deployments[did] = {**req, "name": f"accounts/{fake.account}/deployments/{did}", "state": "CREATING",
                                     "createTime": _iso(), "_reads": 0}
            return Reply(200, self._deployment_json(did))

        def _deployment_json(self, did: str) -> dict:
            d = self.fake.deployments[did]
            return sdk_json(_types()[2], {k: v for k, v in d.items() if not k.startswith("_")})

        def _deployment(self, method: str, did: str) -> Reply:
            fake = self.fake
            d = fake.deployments.get(did)
            if d is None:
                return self.fault(404, f"deployment {did} not found")
            if method == "DELETE":
                del fake.deployments[did]
                fake.deleted_deployments.append(did)
                return Reply(200, {})
            d["_reads"] += 1
            if d["state"] == "CREATING" and d["_reads"] >= fake.deployment_ticks:
                d["state"] = "FAILED" if fake.deployment_failure else "READY"
                if fake.deployment_failure:
                    d["status"] = dict(fake.deployment_failure)
            return Reply(200, self._deployment_json(did))

        # -- chat (OpenAI-compatible) ------------------------------------------------------------
        def _chat(self, body: bytes) -> Reply:
            from openai.types.chat import ChatCompletion
            from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

            fake = self.fake
            req = json.loads(body or b"{}")
            problem = sdk_request(CompletionCreateParamsNonStreaming, req)
            if problem:
                return self.fault(400, problem)
            model, _, deployment = req["model"].partition("#")
            with fake.lock:
                did = deployment.rsplit("/", 1)[-1]
                d = fake.deployments.get(did)
                fine_tune = any(j.get("outputModel") == model for j in fake.jobs.values())
                if fine_tune and (d is None or d["state"] != "READY" or d["baseModel"] != model):
                    return self.fault(404, f"Model {req['model']} is not deployed (a LoRA fine-tune serves only "
                                           "on an on-demand deployment)")
                fake.chat_models.append(req["model"])
            text = fake.answer(model, list(req["messages"]))
            pt = sum(4 + len((m.get("content") or "").split()) for m in req["messages"])
            ct = max(1, len(text.split()))
            return Reply(200, sdk_json(ChatCompletion, {
                "id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion", "created": int(time.time()),
                "model": req["model"], "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                                    "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}}))
