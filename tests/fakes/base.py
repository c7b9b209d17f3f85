"""What every fake provider server shares: a real HTTP server on 127.0.0.1 (the provider's real SDK talks to it),
scripted faults per route, and answers that cannot drift from the SDK's own types.

    class FakeX(FakeService):
        class Handler(FakeHandler):
            def dispatch(self, method):              # route, authenticate, then
                self.serve("jobs.create", lambda: Reply(200, sdk_json(Job, job)))

`sdk_json(Type, obj)` validates an answer against the SDK's pydantic response type on the way out (a missing
required field, a status the SDK does not know, or a field the type does not declare is a test failure, never
an answer the real service would not give); `sdk_request(ParamsType, body)` checks a request body against the
SDK's own TypedDict of parameters (required keys, types, keys it does not declare), as the real API refuses it.
A fake that cannot answer records why in `fake.errors` and answers 500; `stop()` then fails the test with it.

Faults, per route, in order (`fake.fail(route, *entries)`):
  500 / 429 / ...        answer that status (the subclass's `fault` builds the provider's error body)
  (status, *details)     a refusal with details (e.g. (403, "code", "message"))
  "lost"                 do the work, then drop the connection without an answer
  "slow"                 do the work, then answer after `slow_s` seconds (longer than the client's timeout)
  "error-after"          do the work, then answer 500

Adapter downloads, one way for every fake: `fake.sign(files)` mints a signed URL per file (a fresh token; the
URL carries its own authority, no API key), `serve_signed(route, token)` answers one, and `fake.download(data)`
is the answer to any download, cut short (the whole length announced, half sent, the connection closed) while
`fake.cut_downloads` > 0.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
import time
import traceback
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, ClassVar
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    status: int
    obj: Any = None                      # JSON body
    raw: bytes | None = None             # or raw bytes
    ctype: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_short: bool = False              # announce the whole length, send half, close the connection


class FakeAnswerError(AssertionError):
    """The fake was asked for something it cannot answer as the real service would (drift, or a bad request it
    does not model)."""


def _declared(model_cls) -> set[str]:
    return {f.alias or name for name, f in model_cls.model_fields.items()}


def sdk_json(model_cls, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as the SDK's response type `model_cls` reads it, validated: JSON-ready, or FakeAnswerError."""
    import pydantic

    unknown = set(obj) - _declared(model_cls)
    if unknown:
        raise FakeAnswerError(f"{model_cls.__module__}.{model_cls.__name__} declares no {sorted(unknown)}")
    try:
        validated = model_cls.model_validate(obj)
    except pydantic.ValidationError as e:
        raise FakeAnswerError(f"not a valid {model_cls.__name__}: {e}") from None
    return validated.model_dump(mode="json", by_alias=True, exclude_unset=True)


def sdk_request(params_type, body: Any) -> str | None:
    """Why the SDK's parameter TypedDict `params_type` refuses `body` (None when it accepts it)."""
    import pydantic

    if not isinstance(body, dict):
        return "the request body is not a JSON object"
    aliases = wire_aliases(params_type)
    body = {aliases.get(k, k): v for k, v in body.items()}
    known = set(getattr(params_type, "__required_keys__", ())) | set(getattr(params_type, "__optional_keys__", ()))
    unknown = sorted(set(body) - known)
    if known and unknown:
        return f"unrecognized request argument(s): {', '.join(unknown)}"
    try:
        pydantic.TypeAdapter(params_type).validate_python(body)
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"
    return None


def wire_aliases(params_type) -> dict[str, str]:
    """{wire name: parameter name} of a Stainless SDK's TypedDict (`Annotated[T, PropertyInfo(alias="baseModel")]`:
    the fireworks SDK sends camelCase), so a body is checked under the names the TypedDict declares."""
    import typing

    try:
        hints = typing.get_type_hints(params_type, include_extras=True)
    except (NameError, TypeError):
        return {}
    out = {}
    for name, hint in hints.items():
        while not hasattr(hint, "__metadata__") and typing.get_args(hint) and str(typing.get_origin(hint)).endswith(
                ("Required", "NotRequired")):
            hint = typing.get_args(hint)[0]  # Required[Annotated[...]]: the alias is on the inner hint
        for meta in getattr(hint, "__metadata__", ()):
            alias = getattr(meta, "alias", None)
            if alias:
                out[alias] = name
    return out


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """A multipart/form-data body: (plain fields, {name: (filename, bytes)} for file parts)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            files[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
        else:
            fields[name] = (part.get_payload(decode=True) or b"").decode()
    return fields, files


class FakeHandler(BaseHTTPRequestHandler):
    """One request. Subclasses implement `dispatch(method)` and `fault(status, *details)`."""

    protocol_version = "HTTP/1.1"
    fake: "FakeService"

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms a request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- reading ---------------------------------------------------------------------------------
    def parts(self) -> tuple[str, list[tuple[str, str]]]:
        p = urlsplit(self.path)
        return p.path, parse_qsl(p.query)

    def read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def bearer(self) -> str:
        return (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()

    # -- writing ---------------------------------------------------------------------------------
    def send_reply(self, reply: Reply) -> None:
        if reply.cut_short:
            return self.send_cut_short(reply.raw or b"", reply.ctype or "application/octet-stream")
        data = reply.raw if reply.raw is not None else json.dumps(reply.obj).encode()
        ctype = reply.ctype or ("application/octet-stream" if reply.raw is not None else "application/json")
        self.send_response(reply.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_cut_short(self, data: bytes, ctype: str = "application/octet-stream") -> None:
        """A download cut short: the whole length announced, half the body sent, the connection closed."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.drop_connection()

    def drop_connection(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def fault(self, status: int, *details: Any) -> Reply:
        """The provider's error answer for a scripted fault (subclasses shape the body as their service does)."""
        return Reply(status, {"error": {"message": details[-1] if details else f"fake fault {status}"}})

    # -- the request ----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._guarded("GET")

    def do_POST(self) -> None:
        self._guarded("POST")

    def do_PUT(self) -> None:
        self._guarded("PUT")

    def do_DELETE(self) -> None:
        self._guarded("DELETE")

    def do_PATCH(self) -> None:
        self._guarded("PATCH")

    def _guarded(self, method: str) -> None:
        try:
            self.dispatch(method)
        except FakeAnswerError as e:
            self.fake.errors.append(f"{method} {self.path}: {e}")
            self.send_reply(Reply(500, {"error": {"message": f"fake cannot answer: {e}"}}))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # noqa: BLE001 - a bug in the fake: recorded, and the test fails at stop()
            self.fake.errors.append(f"{method} {self.path}: {traceback.format_exc()}")
            self.send_reply(Reply(500, {"error": {"message": "fake crashed"}}))

    def dispatch(self, method: str) -> None:
        raise NotImplementedError

    def serve(self, route: str, work: Callable[[], Reply], *, locked: bool = True) -> None:
        """Answer `route` with `work()`, unless a fault is scripted for it (see the module's docstring).
        `locked`: run `work` under the fake's lock (chat completions run concurrently, as a real server's do)."""
        entry = self.fake.take(route)
        if isinstance(entry, int):
            return self.send_reply(self.fault(entry))
        if isinstance(entry, tuple):
            return self.send_reply(self.fault(*entry))
        if locked:
            with self.fake.lock:
                reply = work()
        else:
            reply = work()
        if entry == "error-after":  # did the work, then failed to say so
            return self.send_reply(self.fault(500))
        if entry == "lost":
            return self.drop_connection()
        if entry == "slow":
            time.sleep(self.fake.slow_s)
        self.send_reply(reply)

    def serve_signed(self, route: str, token: str) -> None:
        """A GET of a URL `fake.sign` minted: its bytes (see `FakeService.download`), 404 once unknown."""
        data = self.fake.signed.get(token)
        self.serve(route, lambda: self.fake.download(data) if data is not None else self.fault(404, "expired"),
                   locked=False)


class FakeService:
    """A fake provider's state and server. Subclasses set `Handler` (a FakeHandler subclass)."""

    Handler: ClassVar[type[FakeHandler]] = FakeHandler

    def __init__(self, *, slow_s: float = 3.0):
        self.slow_s = slow_s
        self.lock = threading.RLock()
        self.script: dict[str, deque] = defaultdict(deque)
        self.calls: dict[str, int] = defaultdict(int)
        self.requests: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.signed: dict[str, bytes] = {}   # download token -> bytes
        self.cut_downloads = 0               # the next N downloads send half, then close the connection
        self._server: ThreadingHTTPServer | None = None

    def fail(self, route: str, *entries) -> "FakeService":
        with self.lock:
            self.script[route].extend(entries)
        return self

    def take(self, route: str):
        """Count a call of `route` and pop its next scripted entry ("ok" when none)."""
        with self.lock:
            self.calls[route] += 1
            return self.script[route].popleft() if self.script[route] else "ok"

    def sign(self, files: dict[str, bytes], path: str = "/signed/") -> dict[str, str]:
        """{file name: a signed URL `path` + token on this server} for each of `files`."""
        urls = {}
        with self.lock:
            for name, data in files.items():
                token = uuid.uuid4().hex
                self.signed[token] = data
                urls[name] = f"{self.origin}{path}{token}"
        return urls

    def download(self, data: bytes) -> Reply:
        """The answer to a download of `data`: whole, or cut short while `cut_downloads` > 0 (one each)."""
        with self.lock:
            cut = self.cut_downloads > 0
            self.cut_downloads -= cut
        return Reply(200, raw=data, cut_short=cut)

    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeService":
        handler = type(f"{type(self).__name__}Handler", (self.Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop the server; fail if it was ever asked for an answer it could not give as the real service."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.errors:
            errors, self.errors = self.errors, []
            raise FakeAnswerError("the fake server could not answer as the real service:\n" + "\n".join(errors))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeJobService(FakeService):
    """A provider that runs fine-tuning jobs: `jobs` by id, in the order they were created."""

    def __init__(self, *, slow_s: float = 3.0):
        super().__init__(slow_s=slow_s)
        self.jobs: dict[str, dict[str, Any]] = {}

    @property
    def job_creates(self) -> int:
        """How many jobs exist: what would have been billed."""
        return len(self.jobs)
