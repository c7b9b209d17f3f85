"""A local fake of Tinker's HTTP API, spoken well enough to drive the real `tinker` SDK (0.38) end to end.

Routes follow the SDK's own resources (read from its source): client config, sessions and heartbeats, models,
`forward_backward` (protobuf in, protobuf out), `optim_step`, weights (save / load / for sampler / external),
futures polled through `retrieve_future`, checkpoint listings, signed external-weight URLs, and the
OpenAI-compatible sampling endpoint under `/oai/api/v1`.

The "model" behind a training run is a real, tiny one: a bigram table of logits trained with Adam on the
token ids and loss weights the client sends, so the loss it reports falls as training goes on. Requests
carrying a `seq_id` already seen for a model return the same future (the server side of the SDK's retries).

The server is the shared fake base's (`tests.fakes.base`); answers the SDK reads as JSON models go through
`sdk_json` and the SDK's own types (the checkpoint listing, the signed-URL listing, the OpenAI-compatible chat and
completions). As the real service, a checkpoint name is kept:
`save_state` under a name this training run already saved is refused (the SDK's `overwrite=False` default).
Every sequence sent through `forward_backward` is recorded (`trained`), so a test can compare what the model
learned with what the OpenAI-compatible `/completions` endpoint is later asked (`completion_requests`).

Faults for tests: `fail_next(route, status, retry_after=None, times=1)` answers the next calls of a route with
an HTTP error; `drop_after(route)` lets the server act on the next call of a route, then closes the
connection without an answer (a lost response).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from tests.fakes.base import FakeHandler, FakeService, Reply, sdk_json

VOCAB = 1024
SUPPORTED = ("Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B")


def _now_iso(dt: datetime | None = None) -> str:
    return (dt or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z")


class _Model:
    """A bigram model (logits table) trained with Adam: real gradients of the weighted cross-entropy."""

    def __init__(self, model_id: str, base_model: str, rank: int, user_metadata: dict | None):
        self.model_id = model_id
        self.base_model = base_model
        self.rank = rank
        self.user_metadata = dict(user_metadata or {})
        self.W = np.zeros((VOCAB, VOCAB), dtype=np.float64)
        self.m = np.zeros_like(self.W)
        self.v = np.zeros_like(self.W)
        self.t = 0
        self.grad = np.zeros_like(self.W)
        self.optim_steps = 0
        self.forward_backwards = 0
        self.tokens = 0
        self.last_request_time = datetime.now(timezone.utc)

    def state(self) -> dict:
        return {"W": self.W.copy(), "m": self.m.copy(), "v": self.v.copy(), "t": self.t}

    def load(self, state: dict, optimizer: bool) -> None:
        self.W = state["W"].copy()
        if optimizer:
            self.m, self.v, self.t = state["m"].copy(), state["v"].copy(), state["t"]

    def forward_backward(self, data: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
        loss_sum = 0.0
        for x, target, w in data:
            x = x % VOCAB
            target = target % VOCAB
            logits = self.W[x]
            logits = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            idx = np.arange(len(x))
            loss_sum += float(-(np.log(p[idx, target] + 1e-12) * w).sum())
            g = p * w[:, None]
            g[idx, target] -= w
            np.add.at(self.grad, x, g)
            self.tokens += len(x)
        self.forward_backwards += 1
        return loss_sum

    def optim_step(self, lr: float, beta1: float, beta2: float, eps: float) -> None:
        self.t += 1
        g = self.grad
        self.m = beta1 * self.m + (1 - beta1) * g
        self.v = beta2 * self.v + (1 - beta2) * g * g
        mhat = self.m / (1 - beta1 ** self.t)
        vhat = self.v / (1 - beta2 ** self.t)
        self.W -= lr * mhat / (np.sqrt(vhat) + eps)
        self.grad = np.zeros_like(self.W)
        self.optim_steps += 1


class FakeTinker(FakeService):
    """The server's state, shared by every handler thread; the server itself is the shared fake base's."""

    def __init__(self, api_key: str, adapter_files: dict[str, bytes] | None = None,
                 answers: dict[str, str] | None = None, delay_s: float = 0.0):
        super().__init__()
        self.api_key = api_key
        self.adapter_files = dict(adapter_files or {})
        self.answers = dict(answers or {})
        self.delay_s = delay_s  # per forward_backward: time for a test to kill a worker mid-run
        self.sessions: dict[str, dict] = {}
        self.models: dict[str, _Model] = {}
        self.futures: dict[str, dict] = {}
        self.by_seq: dict[tuple[str, int, str], str] = {}
        self.checkpoints: dict[str, dict] = {}   # tinker path -> record (with the saved state)
        self.faults: dict[str, list[tuple[int, float | None]]] = {}
        self.drops: dict[str, int] = {}
        self.countdowns: dict[str, list[int]] = {}
        self.seen_keys: set[str] = set()
        self.chat_requests: list[dict] = []
        self.completion_requests: list[dict] = []
        self.trained: list[tuple[list[int], list[float]]] = []  # (tokens, loss weights) per datum
        self.url_override: str | None = None  # the signed URL every export file is given (tests of URL checks)

    def start(self) -> "FakeTinker":
        self.Handler = make_handler(self)
        super().start()
        return self

    @property
    def base_url(self) -> str:
        return self.origin

    # -- test controls ---------------------------------------------------------------------
    def fail_next(self, route: str, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        with self.lock:
            self.faults.setdefault(route, []).extend([(status, retry_after)] * times)

    def fail_after(self, route: str, *, after: int, status: int) -> None:
        """Let `after` more calls of a route through, then answer the next one with `status`."""
        with self.lock:
            self.countdowns[route] = [after, status]

    def drop_after(self, route: str, times: int = 1) -> None:
        with self.lock:
            self.drops[route] = self.drops.get(route, 0) + times

    def total_optim_steps(self) -> int:
        return sum(m.optim_steps for m in self.models.values())

    # -- futures ---------------------------------------------------------------------------
    def _future(self, model_id: str | None, seq_id: int | None, kind: str, compute) -> dict:
        """A future for a state-changing request; the same (model, seq_id, kind) answers the same future."""
        with self.lock:
            key = (model_id or "", int(seq_id or 0), kind)
            if seq_id and key in self.by_seq:
                return {"request_id": self.by_seq[key], "model_id": model_id}
            rid = f"req-{uuid.uuid4().hex[:12]}"
            result = compute()
            self.futures[rid] = result
            if seq_id:
                self.by_seq[key] = rid
            out = {"request_id": rid}
            if model_id:
                out["model_id"] = model_id
            return out


def make_handler(state: FakeTinker):
    from tinker.proto import tinker_public_pb2 as pb

    class Handler(FakeHandler):
        # -- plumbing ----------------------------------------------------------------------
        def fault(self, status: int, *details) -> Reply:
            return Reply(status, {"detail": details[-1] if details else f"fake fault {status}"})

        def _send(self, code: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
            self.send_reply(Reply(code, raw=body, ctype=ctype, headers=dict(headers or {})))

        def _json(self, obj, code: int = 200, headers: dict | None = None):
            self.send_reply(Reply(code, obj, headers=dict(headers or {})))

        def _route(self) -> str:
            path = self.path.split("?")[0]
            if path.startswith("/api/v1/training_runs/") and path.endswith("/checkpoints"):
                return "list_checkpoints"
            if path.endswith("/external_weights_urls"):
                return "external_weights_urls"
            if path.startswith("/files/"):
                return "files"
            if path.startswith("/api/v1/sessions/") and path.endswith("/finish"):
                return "finish_session"
            return path.rsplit("/", 1)[-1] if path.startswith("/api/v1/") else path

        def _fault(self, route: str) -> bool:
            with state.lock:
                state.calls[route] += 1
                countdown = state.countdowns.get(route)
                if countdown is not None:
                    countdown[0] -= 1
                    if countdown[0] < 0:
                        del state.countdowns[route]
                        state.faults.setdefault(route, []).insert(0, (countdown[1], None))
                queue = state.faults.get(route)
                if not queue:
                    return False
                status, retry_after = queue.pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            self.send_reply(Reply(status, self.fault(status).obj, headers=headers))
            return True

        def _authorized(self) -> bool:
            key = self.headers.get("X-API-Key") or (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            if key:
                state.seen_keys.add(key)
            if key != state.api_key:
                self._json({"detail": "invalid API key"}, code=401)
                return False
            return True

        def _drop(self, route: str) -> bool:
            with state.lock:
                if state.drops.get(route, 0) > 0:
                    state.drops[route] -= 1
                    return True
            return False

        def dispatch(self, method: str):
            body = self.read_body()
            route = self._route()
            if route == "files":  # a signed URL carries its own authority
                return self.serve_signed("files", self.path.split("/files/", 1)[1])
            if not self._authorized():
                return
            if self._fault(route):
                return
            handler = getattr(self, "r_" + route.replace("-", "_").replace("/", "_"), None)
            if self.path.startswith("/oai/api/v1/chat/completions"):
                handler = self.r_chat_completions
            elif self.path.startswith("/oai/api/v1/completions"):
                handler = self.r_completions
            if handler is None:
                self._json({"detail": f"no route {self.path}"}, code=404)
                return
            ctype = self.headers.get("Content-Type", "")
            payload = body if "protobuf" in ctype else (json.loads(body) if body else {})
            if self._drop(route):  # the server acts; its answer is lost on the way (connection closed)
                real, self.wfile = self.wfile, io.BytesIO()
                try:
                    handler(payload)
                finally:
                    self.wfile = real
                self.close_connection = True
                return
            handler(payload)

        # -- session and config ---------------------------------------------------------------
        def r_config(self, req):
            self._json({"pjwt_auth_enabled": False, "use_pyqwest_transport": False,
                        "parallel_fwdbwd_chunks": False, "sample_use_retrieve_futures": False})

        def r_dynamic_config(self, req):
            self._json({"refresh_interval_sec": 300})

        def r_create_session(self, req):
            sid = f"sess-fake-{uuid.uuid4().hex[:8]}"
            with state.lock:
                state.sessions[sid] = {"user_metadata": req.get("user_metadata"), "finished": False}
            self._json({"type": "create_session", "session_id": sid})

        def r_session_heartbeat(self, req):
            self._json({"type": "session_heartbeat"})

        def r_finish_session(self, req):
            self._json({})

        def r_telemetry(self, req):
            self._json({"status": "accepted"})

        def r_get_server_capabilities(self, req):
            self._json({"supported_models": [{"model_name": m, "max_context_length": 32768, "trainable": True,
                                              "sampleable": True} for m in SUPPORTED]})

        # -- models ------------------------------------------------------------------------------
        def r_create_model(self, req):
            base = req["base_model"]
            model_id = f"{req['session_id']}:train:{req['model_seq_id']}"

            def compute():
                if base not in SUPPORTED:
                    return {"error": f"base model {base} is not supported", "category": "user"}
                state.models[model_id] = _Model(model_id, base, req["lora_config"]["rank"], req.get("user_metadata"))
                return {"model_id": model_id, "type": "create_model"}

            self._json(state._future(None, None, "create_model", compute))

        def r_get_info(self, req):
            m = state.models[req["model_id"]]
            self._json({"type": "get_info", "model_id": m.model_id, "is_lora": True, "lora_rank": m.rank,
                        "model_name": m.base_model,
                        "model_data": {"arch": "fake-bigram", "model_name": m.base_model,
                                       "tokenizer_id": m.base_model}})

        # -- training ------------------------------------------------------------------------------
        def r_forward_backward(self, raw: bytes):
            msg = pb.ForwardBackwardRequest()
            msg.ParseFromString(raw)
            model = state.models[msg.model_id]
            data = []
            for d in msg.data:
                tokens = np.concatenate([np.frombuffer(c.encoded_text.tokens, dtype=np.int32) for c in d.model_input])
                target = np.frombuffer(d.loss_fn_inputs["target_tokens"].dense, dtype=np.int64)
                weights = np.frombuffer(d.loss_fn_inputs["weights"].dense, dtype=np.float32).astype(np.float64)
                data.append((tokens.astype(np.int64), target, weights))
                full = [int(t) for t in tokens] + [int(target[-1])] if len(target) else [int(t) for t in tokens]
                with state.lock:
                    state.trained.append((full, [0.0] + [float(w) for w in weights]))

            def compute():
                if state.delay_s:
                    time.sleep(state.delay_s)
                loss_sum = model.forward_backward(data)
                out = pb.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord")
                out.metrics["loss:sum"] = loss_sum
                return {"__proto__": out.SerializeToString()}

            with state.lock:
                self._json(state._future(msg.model_id, msg.seq_id, "forward_backward", compute))

        def r_optim_step(self, req):
            model = state.models[req["model_id"]]
            p = req.get("adam_params") or req.get("optimizer_params") or req["optim_params"]

            def compute():
                model.optim_step(p["learning_rate"], p.get("beta1", 0.9), p.get("beta2", 0.95), p.get("eps", 1e-12))
                model.last_request_time = datetime.now(timezone.utc)
                return {"metrics": {"step": float(model.t)}}

            with state.lock:
                self._json(state._future(req["model_id"], req.get("seq_id"), "optim_step", compute))

        # -- weights -------------------------------------------------------------------------------
        def _checkpoint(self, model: _Model, kind: str, name: str, meta: dict | None, ttl: int | None) -> str:
            segment = {"training": "weights", "sampler": "sampler_weights", "external": "external_weights"}[kind]
            path = f"tinker://{model.model_id}/{segment}/{name}"
            now = datetime.now(timezone.utc)
            state.checkpoints[path] = {
                "checkpoint_id": f"{segment}/{name}", "checkpoint_type": kind, "time": _now_iso(now),
                "tinker_path": path, "size_bytes": 4096, "public": False, "user_metadata": meta,
                "expires_at": _now_iso(now + timedelta(seconds=ttl)) if ttl else None,
                "_model": model.model_id, "_state": model.state(), "_base": model.base_model, "_rank": model.rank,
            }
            return path

        def r_save_weights(self, req):
            model = state.models[req["model_id"]]

            def compute():
                path = f"tinker://{model.model_id}/weights/{req['path']}"
                if path in state.checkpoints and not req.get("overwrite"):
                    return {"error": f"checkpoint {path} already exists (overwrite=False)", "category": "user"}
                path = self._checkpoint(model, "training", req["path"], req.get("user_metadata"), req.get("ttl_seconds"))
                return {"path": path, "type": "save_weights"}

            with state.lock:
                self._json(state._future(req["model_id"], req.get("seq_id"), "save_weights", compute))

        def r_save_weights_for_sampler(self, req):
            model = state.models[req["model_id"]]

            def compute():
                path = self._checkpoint(model, "sampler", req["path"], req.get("user_metadata"), req.get("ttl_seconds"))
                return {"path": path, "type": "save_weights_for_sampler"}

            with state.lock:
                self._json(state._future(req["model_id"], req.get("seq_id"), "save_weights_for_sampler", compute))

        def r_save_weights_external(self, req):
            model = state.models[req["model_id"]]

            def compute():
                path = self._checkpoint(model, "external", req["path"], None, req.get("ttl_seconds"))
                return {"path": path, "size_bytes": sum(len(b) for b in state.adapter_files.values()),
                        "type": "save_weights_external"}

            with state.lock:
                self._json(state._future(req["model_id"], req.get("seq_id"), "save_weights_external", compute))

        def r_load_weights(self, req):
            path = req["path"]

            def compute():
                ck = state.checkpoints.get(path)
                if ck is None or ck["checkpoint_type"] != "training":
                    return {"error": f"checkpoint {path} not found", "category": "user"}
                if req.get("model_id"):
                    model = state.models[req["model_id"]]
                else:
                    model_id = f"{req['session_id']}:train:{req['model_seq_id']}"
                    model = state.models[model_id] = _Model(model_id, ck["_base"], ck["_rank"], req.get("user_metadata"))
                model.load(ck["_state"], bool(req.get("optimizer")))
                return {"path": path, "model_id": model.model_id, "type": "load_weights"}

            with state.lock:
                self._json(state._future(req.get("model_id"), req.get("seq_id"), "load_weights", compute))

        def r_retrieve_future(self, req):
            with state.lock:
                result = state.futures.get(req["request_id"])
            if result is None:
                self._json({"detail": "unknown future"}, code=404)
            elif "__proto__" in result:
                self._send(200, result["__proto__"], "application/x-protobuf")
            else:
                self._json(result)

        # -- REST ------------------------------------------------------------------------------------
        def r_list_checkpoints(self, req):
            run_id = self.path.split("/api/v1/training_runs/", 1)[1].rsplit("/checkpoints", 1)[0]
            with state.lock:
                items = [{k: v for k, v in ck.items() if not k.startswith("_")}
                         for ck in state.checkpoints.values() if ck["_model"] == run_id]
            from tinker.types import CheckpointsListResponse

            self._json(sdk_json(CheckpointsListResponse, {"checkpoints": items, "cursor": None}))

        def r_external_weights_urls(self, req):
            rest = self.path.split("/api/v1/training_runs/", 1)[1]
            run_id, cid = rest.split("/checkpoints/", 1)
            cid = cid.rsplit("/external_weights_urls", 1)[0]
            path = f"tinker://{run_id}/{cid}"
            with state.lock:
                if path not in state.checkpoints:
                    self._json({"detail": "not found"}, code=404)
                    return
                urls = state.sign(state.adapter_files, "/files/")
                if state.url_override:
                    urls = dict.fromkeys(urls, state.url_override)
            from tinker.types import ExternalWeightsUrlsResponse

            self._json(sdk_json(ExternalWeightsUrlsResponse,
                                {"urls": urls, "expires": _now_iso(datetime.now(timezone.utc) + timedelta(hours=1))}))

        # -- OpenAI-compatible sampling (beta) ---------------------------------------------------------
        def _sampler_refused(self, req, log: list) -> bool:
            """Record the request; answer 404 (True) unless it names a saved sampler checkpoint or a base."""
            model = req.get("model", "")
            with state.lock:
                log.append(req)
                known = model in state.checkpoints and state.checkpoints[model]["checkpoint_type"] == "sampler"
            if known or model in SUPPORTED:
                return False
            self._json({"error": {"message": f"model {model} not found", "type": "invalid_request_error",
                                  "code": "model_not_found"}}, code=404)
            return True

        def r_chat_completions(self, req):
            from openai.types.chat import ChatCompletion

            if self._sampler_refused(req, state.chat_requests):
                return
            user = next((m["content"] for m in reversed(req.get("messages", [])) if m["role"] == "user"), "")
            text = state.answers.get(user, "inform(name[unknown])")
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in req.get("messages", []))
            self._json(sdk_json(ChatCompletion, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion", "created": int(time.time()),
                "model": req["model"], "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                    "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                          "total_tokens": prompt_tokens + len(text.split())}}))

        def r_completions(self, req):
            from openai.types import Completion

            model, prompt = req.get("model", ""), req.get("prompt", "")
            if self._sampler_refused(req, state.completion_requests):
                return
            text = next((a for q, a in state.answers.items() if q and q in str(prompt)), "inform(name[unknown])")
            prompt_tokens = len(str(prompt).split())
            self._json(sdk_json(Completion, {
                "id": f"cmpl-{uuid.uuid4().hex[:8]}", "object": "text_completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                          "total_tokens": prompt_tokens + len(text.split())}}))

    return Handler


class FakeTinkerServer:
    """`with FakeTinkerServer(key) as fake:` a server on 127.0.0.1 (a free port); `fake.base_url` for
    TINKER_BASE_URL. Leaving the block stops it, and fails if the fake was asked for what it cannot answer."""

    def __init__(self, api_key: str, **kwargs):
        self.state = FakeTinker(api_key, **kwargs)

    def __enter__(self) -> FakeTinker:
        return self.state.start()

    def __exit__(self, *exc) -> None:
        self.state.stop()


def tiny_peft_adapter(model_dir: str | Path, rank: int = 8, alpha: float = 16.0, seed: int = 0) -> dict[str, bytes]:
    """A real PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) for the tiny model in
    `tests/tinymodel.py`, written with numpy and safetensors only (no torch import: it must stay fast)."""
    from safetensors.numpy import save

    config = json.loads((Path(model_dir) / "config.json").read_text())
    hidden = config["hidden_size"]
    kv = config["num_key_value_heads"] * (hidden // config["num_attention_heads"])
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(config["num_hidden_layers"]):
        for name, out_dim in (("q_proj", hidden), ("v_proj", kv)):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{name}"
            tensors[f"{prefix}.lora_A.weight"] = rng.normal(0, 0.02, (rank, hidden)).astype(np.float32)
            tensors[f"{prefix}.lora_B.weight"] = rng.normal(0, 0.02, (out_dim, rank)).astype(np.float32)
    adapter_config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha,
                      "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "bias": "none",
                      "base_model_name_or_path": None, "inference_mode": True, "fan_in_fan_out": False}
    return {"adapter_config.json": json.dumps(adapter_config, indent=2).encode(),
            "adapter_model.safetensors": save(tensors)}
