"""A fake Together AI server on 127.0.0.1 for tests: real sockets, the real `together` SDK talks to it.

Routes (as the together 3.1.1 SDK calls them; TOGETHER_BASE_URL = `fake.url`, no /v1):
  POST /v1/files (form: purpose, file_name, file_type, checksum) -> 302 Location=/upload/{id}, X-Together-File-Id
       (a file with the same checksum already uploaded -> 409 {"file_id": ...})
  PUT  /upload/{id}                   POST /v1/files/{id}/preprocess        GET /v1/files/{id}
  GET  /v1/fine-tunes/models/limits   POST /v1/fine-tunes/estimate-price
  POST /v1/fine-tunes                 GET  /v1/fine-tunes                   GET /v1/fine-tunes/{id}
  GET  /v1/fine-tunes/{id}/events     GET  /v1/fine-tunes/{id}/metrics      POST /v1/fine-tunes/{id}/cancel
  GET  /v1/finetune/download?ft_id=&checkpoint=adapter  (the zstd tar of `adapter_dir`, or `adapter_archive`)
  POST /v1/chat/completions           (OpenAI-compatible, for hosted evaluation of the output model)

Every answer is built through the SDK's own response type (`together.types...`, validated on the way out, then
dumped as the wire JSON), so a field the real service does not send, or sends under another name, fails here
first. The fake also refuses what the real service refuses: an estimate-price body without SFT's
`train_on_inputs` or LoRA's `lora_r` / `lora_alpha` (required in the SDK's request types); chat with a fine-tune
whose base is not on Together's serverless-LoRA list (docs.together.ai/docs/adapter-upload, "Supported base
models"). Identical uploads (same SHA-256) get the same file id; eval loss comes as rows of its own
(`eval/loss`) at the training row's step, as the metrics endpoint answers them.

A job advances one tick per retrieve: pending -> queued -> running (steps_per_tick steps a tick, one metrics
row and one event each) -> compressing -> uploading -> completed (or the scripted failure: an `error` status
and a `job_error` event). Failures are scripted per route with `fail(route, *entries)` as in fake_openai:
429 (with Retry-After), 5xx, (status, message), "lost", "slow", "error-after".
Routes: files.create, files.put, files.preprocess, files.retrieve, limits, estimate, jobs.create, jobs.list,
jobs.retrieve, jobs.events, jobs.metrics, jobs.cancel, download, chat.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from together.lib.types.fine_tuning import FinetuneResponse as FinetuneResponseLib
from together.types import FileResponse, FinetuneModelLimits, FinetuneResponse
from together.types import fine_tuning_estimate_price_params as pe
from together.types.chat.chat_completion import ChatCompletion
from together.types.fine_tuning_cancel_response import FineTuningCancelResponse
from together.types.fine_tuning_estimate_price_response import AvailableEstimate
from together.types.fine_tuning_list_events_response import FineTuningListEventsResponse
from together.types.fine_tuning_list_metrics_response import FineTuningListMetricsResponse
from together.types.fine_tuning_list_response import Data as ListedJob
from together.types.fine_tuning_list_response import FineTuningListResponse

from tests.fakes.base import FakeHandler, FakeJobService, Reply, parse_multipart, sdk_json, sdk_request

DEFAULT_KEY = "tgp_v1_FAKE-together-SECRET-0123456789abcdef"


def shaped(model_cls, job: dict) -> dict:
    """The job as one route answers it: the fields that route's SDK type declares (retrieve's FinetuneResponse
    has no `suffix`; the list's items do), then validated by `sdk_json`."""
    declared = {f.alias or name for name, f in model_cls.model_fields.items()}
    return sdk_json(model_cls, {k: v for k, v in job.items() if k in declared})
# docs.together.ai/docs/adapter-upload, "Supported base models" (read 2026-12-07): serverless LoRA inference
# is supported for adapters on these bases only.
SERVERLESS_LORA_BASES = ("meta-llama/Llama-4-Maverick-17B-128E-Instruct",
                         "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
                         "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", "Qwen/Qwen2.5-72B-Instruct",
                         "Qwen/Qwen3-235B-A22B-Instruct-2507-tput")


def _iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(t or time.time(), tz=timezone.utc).isoformat().replace("+00:00", "Z")


def adapter_archive(folder: Path, *, prefix: str = "adapter", extra: dict[str, bytes] | None = None,
                    compression: str = "zstd") -> bytes:
    """A compressed tar of `folder` under `prefix/`, as Together serves checkpoint=adapter (zstd; or gzip)."""
    import gzip

    import zstandard

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                tar.add(p, arcname=f"{prefix}/{p.relative_to(folder)}")
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    if compression == "gzip":
        return gzip.compress(buf.getvalue())
    return zstandard.ZstdCompressor().compress(buf.getvalue())


class _Handler(FakeHandler):
    fake: "FakeTogether"

    def fault(self, status: int, *details: Any) -> Reply:
        message = details[-1] if details else ("Rate limit exceeded" if status == 429 else "Internal server error")
        headers = {"Retry-After": "0.01"} if status == 429 else {}
        return Reply(status, {"error": {"message": message, "type": "invalid_request_error"}}, headers=headers)

    def dispatch(self, method: str) -> None:
        fake = self.fake
        path, q = self.parts()
        query = dict(q)
        body = self.read_body()
        fake.requests.append((method, path))
        route, args = self._route(method, path)
        if route is None:
            return self.send_reply(self.fault(404, f"Unknown route {method} {path}"))
        if route != "files.put":  # the signed upload URL carries its own authority, not the API key
            key = self.bearer()
            if key != fake.api_key:
                return self.send_reply(self.fault(401, f"Invalid API key provided: {key}"))
        handler = getattr(self, "_h_" + route.replace(".", "_"))

        def work() -> Reply:
            answer = handler(body, query, *args)
            if isinstance(answer, Reply):
                return answer
            status, obj, raw, headers = answer
            if status >= 400 and raw is None and status not in (302, 409):
                return self.fault(status, (obj or {}).get("message", "error"))
            return Reply(status, obj, raw=raw, headers=dict(headers or {}))

        self.serve(route, work, locked=route != "chat")  # chat completions run concurrently

    def _route(self, method: str, path: str):
        seg = [s for s in path.split("/") if s]
        if method == "PUT" and len(seg) == 2 and seg[0] == "upload":
            return "files.put", (seg[1],)
        if seg[:1] != ["v1"]:
            return None, ()
        seg = seg[1:]
        if method == "POST" and seg == ["files"]:
            return "files.create", ()
        if method == "POST" and len(seg) == 3 and seg[0] == "files" and seg[2] == "preprocess":
            return "files.preprocess", (seg[1],)
        if method == "GET" and len(seg) == 2 and seg[0] == "files":
            return "files.retrieve", (seg[1],)
        if method == "GET" and seg == ["fine-tunes", "models", "limits"]:
            return "limits", ()
        if method == "POST" and seg == ["fine-tunes", "estimate-price"]:
            return "estimate", ()
        if method == "GET" and seg == ["finetune", "download"]:
            return "download", ()
        if seg[:1] == ["fine-tunes"]:
            if method == "POST" and len(seg) == 1:
                return "jobs.create", ()
            if method == "GET" and len(seg) == 1:
                return "jobs.list", ()
            if method == "GET" and len(seg) == 2:
                return "jobs.retrieve", (seg[1],)
            if method == "GET" and len(seg) == 3 and seg[2] == "events":
                return "jobs.events", (seg[1],)
            if method == "GET" and len(seg) == 3 and seg[2] == "metrics":
                return "jobs.metrics", (seg[1],)
            if method == "POST" and len(seg) == 3 and seg[2] == "cancel":
                return "jobs.cancel", (seg[1],)
        if method == "POST" and seg == ["chat", "completions"]:
            return "chat", ()
        return None, ()

    # -- handlers: (status, obj, raw, headers) -------------------------------------------------------
    def _h_files_create(self, body: bytes, query):
        fake = self.fake
        form, _files = parse_multipart(self.headers.get("Content-Type", ""), body)
        for fid, f in fake.files.items():
            if f["_checksum"] == form.get("checksum") and f["_preprocessed"]:
                return 409, {"file_id": fid, "message": "File already exists"}, None, None
        fid = "file-" + str(uuid.uuid4())
        fake.files[fid] = {"id": fid, "object": "file", "bytes": 0, "created_at": int(time.time()),
                           "filename": form.get("file_name", "upload.jsonl"), "FileType": form.get("file_type", "jsonl"),
                           "purpose": form.get("purpose", "fine-tune"), "processing_status": "PENDING",
                           "_checksum": form.get("checksum"), "_content": b"", "_preprocessed": False}
        return 302, {}, None, {"Location": f"{fake.url}/upload/{fid}", "X-Together-File-Id": fid}

    def _h_files_put(self, body: bytes, query, fid):
        f = self.fake.files.get(fid)
        if f is None:
            return 404, {"message": "no such upload"}, None, None
        f.update(_content=body, bytes=len(body))
        return 200, {}, None, None

    def _h_files_preprocess(self, body, query, fid):
        f = self.fake.files.get(fid)
        if f is None:
            return 404, {"message": f"No such file {fid}"}, None, None
        if hashlib.sha256(f["_content"]).hexdigest() != f["_checksum"]:
            return 400, {"message": "checksum mismatch"}, None, None
        f.update(_preprocessed=True, processing_status="COMPLETED")
        return 200, sdk_json(FileResponse, self.fake.public_file(fid)), None, None

    def _h_files_retrieve(self, body, query, fid):
        if fid not in self.fake.files:
            return 404, {"message": f"No such file {fid}"}, None, None
        return 200, sdk_json(FileResponse, self.fake.public_file(fid)), None, None

    def _h_limits(self, body, query):
        lora = {"default_rank": 8, "max_batch_size": 64, "max_batch_size_dpo": 32, "max_rank": 64,
                "min_batch_size": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
        return 200, sdk_json(FinetuneModelLimits, {"model_name": query.get("model_name"),
                                              "default_gradient_accumulation_steps": 1,
                     "lora_training": lora, "full_training": {"max_batch_size": 32, "max_batch_size_dpo": 16,
                                                             "min_batch_size": 8},
                     "max_learning_rate": 1.0, "min_learning_rate": 1e-8, "max_num_checkpoints": 10,
                     "max_num_epochs": 20, "max_num_evals": 100, "max_seq_length_dpo": 8192,
                     "max_seq_length_sft": 8192, "merge_output_lora": True, "min_max_seq_length": 512,
                     "supports_full_training": True, "supports_reasoning": False, "supports_tools": True,
                     "supports_vision": False}), None, None

    def _h_estimate(self, body, query):
        fake = self.fake
        req = json.loads(body or b"{}")
        fake.estimate_bodies.append(req)
        # The SDK's request types (FineTuningEstimatePriceParams): SFT needs train_on_inputs; LoRA needs
        # lora_r and lora_alpha.
        problem = sdk_request(pe.FineTuningEstimatePriceParams, req)
        missing = [problem] if problem else []
        if missing:
            return 422, {"message": "invalid request: " + ", ".join(missing)}, None, None
        train = fake.tokens(req.get("training_file")) * int(req.get("n_epochs") or 1)
        evals = fake.tokens(req.get("validation_file")) * int(req.get("n_evals") or 0)
        return 200, sdk_json(AvailableEstimate, {
            "estimation_available": True, "allowed_to_proceed": True, "user_limit": 100.0,
            "estimated_train_token_count": train, "estimated_eval_token_count": evals,
            "estimated_total_price": round((train + evals) * fake.price_per_token, 6)}), None, None

    def _h_jobs_create(self, body, query):
        fake = self.fake
        req = json.loads(body or b"{}")
        fake.create_bodies.append(req)
        if req.get("training_file") not in fake.files:
            return 400, {"message": f"invalid training_file {req.get('training_file')}"}, None, None
        return 200, shaped(FinetuneResponseLib, fake.create_job(req)), None, None

    def _h_jobs_list(self, body, query):
        fake = self.fake
        return 200, sdk_json(FineTuningListResponse, {"data": [shaped(ListedJob, fake.jobs[j])
                                                             for j in fake.job_order[::-1]]}), None, None

    def _h_jobs_retrieve(self, body, query, jid):
        fake = self.fake
        if jid not in fake.jobs:
            return 404, {"message": f"No such job {jid}"}, None, None
        fake.advance(jid)
        return 200, shaped(FinetuneResponse, fake.jobs[jid]), None, None

    def _h_jobs_events(self, body, query, jid):
        return 200, sdk_json(FineTuningListEventsResponse, {"data": list(self.fake.events[jid])}), None, None

    def _h_jobs_metrics(self, body, query, jid):
        lo = float(query.get("global_step_from", 0))
        rows = [m for m in self.fake.metrics[jid] if m["train/global_step"] >= lo]
        return 200, sdk_json(FineTuningListMetricsResponse, {"metrics": rows}), None, None

    def _h_jobs_cancel(self, body, query, jid):
        fake = self.fake
        job = fake.jobs.get(jid)
        if job is None:
            return 404, {"message": f"No such job {jid}"}, None, None
        if job["status"] in ("completed", "error", "cancelled"):
            return 400, {"message": f"job {jid} has already finished"}, None, None
        job.update(status="cancel_requested", updated_at=_iso())
        fake._event(jid, "cancel_requested", "Cancel requested")
        return 200, shaped(FineTuningCancelResponse, job), None, None

    def _h_download(self, body, query):
        fake = self.fake
        job = fake.jobs.get(query.get("ft_id", ""))
        if job is None or job["status"] != "completed":
            return 404, {"message": "no finished job"}, None, None
        if query.get("checkpoint") != "adapter":
            return 400, {"message": "this fake serves checkpoint=adapter only"}, None, None
        data = fake.adapter_bytes if fake.adapter_bytes is not None else adapter_archive(fake.adapter_dir)
        return fake.download(data)

    def _h_chat(self, body, query):
        fake = self.fake
        req = json.loads(body or b"{}")
        model, messages = req.get("model"), req.get("messages") or []
        with fake.lock:
            fake.chat_models.append(model)
            job = next((j for j in fake.jobs.values() if model in (j["model_output_name"], j["adapter_output_name"])),
                       None)
        if job is not None and job["model"] not in SERVERLESS_LORA_BASES:
            # The fine-tune of a base without serverless LoRA serves only from a dedicated endpoint.
            return 400, {"message": f"Unable to access non-serverless model {model}. Please visit "
                                    f"https://api.together.ai/models/{model} to create and start a new dedicated "
                                    "endpoint for the model."}, None, None
        text = fake.answer(model, messages)
        pt = sum(len((m.get("content") or "").split()) + 4 for m in messages)
        return 200, sdk_json(ChatCompletion, {"id": "chatcmpl-" + uuid.uuid4().hex[:12], "object": "chat.completion",
                     "created": int(time.time()), "model": model, "prompt": [],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}],
                     "usage": {"prompt_tokens": pt, "completion_tokens": len(text.split()),
                               "total_tokens": pt + len(text.split())}}), None, None


class FakeTogether(FakeJobService):
    Handler = _Handler

    def __init__(self, *, api_key: str = DEFAULT_KEY, steps: int = 6, steps_per_tick: int = 2,
                 outcome: str = "completed", error_message: str = "Training failed: CUDA error on the node",
                 hold_running: bool = False, slow_s: float = 3.0, adapter_dir: Path | None = None,
                 adapter_bytes: bytes | None = None, price_per_token: float = 0.48e-6,
                 chat_answer: Callable[[str, list[dict]], str] | None = None):
        super().__init__(slow_s=slow_s)
        self.api_key = api_key
        self.steps = steps
        self.steps_per_tick = steps_per_tick
        self.outcome = outcome
        self.error_message = error_message
        self.hold_running = hold_running
        self.adapter_dir = adapter_dir
        self.adapter_bytes = adapter_bytes
        self.price_per_token = price_per_token
        self.chat_answer = chat_answer
        self.files: dict[str, dict[str, Any]] = {}
        self.job_order: list[str] = []
        self.events: dict[str, list[dict]] = defaultdict(list)
        self.metrics: dict[str, list[dict]] = defaultdict(list)
        self.ticks: dict[str, int] = defaultdict(int)
        self.create_bodies: list[dict] = []
        self.estimate_bodies: list[dict] = []
        self.chat_models: list[str] = []

    @property
    def url(self) -> str:
        return self.origin

    # -- model of the service ------------------------------------------------------------------
    def public_file(self, fid: str) -> dict:
        return {k: v for k, v in self.files[fid].items() if not k.startswith("_")}

    def lines(self, fid: str | None) -> list[dict]:
        if not fid or fid not in self.files:
            return []
        return [json.loads(line) for line in self.files[fid]["_content"].decode().splitlines() if line.strip()]

    def tokens(self, fid: str | None) -> int:
        return sum(len((m.get("content") or "").split()) + 4 for ex in self.lines(fid) for m in ex["messages"])

    def create_job(self, body: dict) -> dict:
        jid = "ft-" + str(uuid.uuid4())
        model = body.get("model")
        suffix = body.get("suffix")
        out = f"fakeuser/{str(model).split('/')[-1]}-{suffix or 'ft'}-{jid[3:11]}"
        now = _iso()
        job = {"id": jid, "object": "fine-tune", "created_at": now, "updated_at": now, "status": "pending",
               "user_id": "fake-user", "model": model, "model_output_name": out,
               "adapter_output_name": out + "-adapter", "suffix": suffix, "training_file": body.get("training_file"),
               "validation_file": body.get("validation_file") or None, "n_epochs": body.get("n_epochs"),
               "n_evals": body.get("n_evals"),
               # the service resolves "max" to the model's largest batch (the limits' max_batch_size)
               "batch_size": 64 if body.get("batch_size") in (None, "max") else body.get("batch_size"),
               "learning_rate": body.get("learning_rate"), "training_type": body.get("training_type"),
               "token_count": None, "total_price": None}
        self.jobs[jid] = job
        self.job_order.append(jid)
        self._event(jid, "job_pending", "Fine tune request created")
        return job

    def _event(self, jid: str, type: str, message: str, *, level: str = "info", **extra) -> None:
        self.events[jid].append({"object": "fine-tune-event", "created_at": _iso(time.time() + len(self.events[jid])
                                                                                 * 1e-3),
                                 "type": type, "message": message, "level": level, **extra})

    def advance(self, jid: str) -> None:
        job = self.jobs[jid]
        if job["status"] in ("completed", "error", "user_error", "cancelled"):
            return
        if job["status"] == "cancel_requested":
            job.update(status="cancelled", updated_at=_iso())
            self._event(jid, "job_stopped", "Job cancelled")
            return
        self.ticks[jid] += 1
        t = self.ticks[jid]
        if t == 1:
            job["status"] = "queued"
            return
        if t == 2:
            job["status"] = "running"
            self._event(jid, "training_start", "Training started", total_steps=self.steps)
            return
        if self.hold_running and job["status"] == "running":
            return
        done = sum(1 for m in self.metrics[jid] if "train/loss" in m)
        if job["status"] == "running" and done < self.steps:
            if self.outcome == "error" and done >= self.steps // 2:
                job.update(status="error", updated_at=_iso())
                self._event(jid, "job_error", self.error_message, level="error")
                return
            n_evals = int(job.get("n_evals") or 0) if job.get("validation_file") else 0
            eval_every = max(1, self.steps // n_evals) if n_evals else 0
            for step in range(done + 1, min(self.steps, done + self.steps_per_tick) + 1):
                loss = round(2.0 / (1 + 0.5 * step), 4)
                self.metrics[jid].append({"train/loss": loss, "train/global_step": float(step),
                                          "train/lr": 1e-4})
                if eval_every and step % eval_every == 0:  # a row of its own at the same step
                    self.metrics[jid].append({"eval/loss": round(loss * 1.1, 4), "train/global_step": float(step)})
                self._event(jid, "checkpoint_save" if step == self.steps else "epoch_complete",
                            f"Step {step}/{self.steps}", step=step, total_steps=self.steps)
            return
        nxt = {"running": "compressing", "compressing": "uploading", "uploading": "completed"}[job["status"]]
        job.update(status=nxt, updated_at=_iso())
        if nxt == "completed":
            tokens = self.tokens(job["training_file"]) * int(job.get("n_epochs") or 1)
            job.update(token_count=tokens, total_price=int(round(tokens * self.price_per_token * 1e9)))
            self._event(jid, "job_complete", "Job finished")

    def answer(self, model: str, messages: list[dict]) -> str:
        if self.chat_answer:
            return self.chat_answer(model, messages)
        job = next((j for j in self.jobs.values() if j["model_output_name"] == model), None)
        if job:
            for fid in (job["training_file"], job["validation_file"]):
                for ex in self.lines(fid):
                    prompt = [m for m in ex["messages"] if m["role"] != "assistant"]
                    if prompt == messages:
                        return next(m["content"] for m in ex["messages"] if m["role"] == "assistant")
        return "I do not know."
