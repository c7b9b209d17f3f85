"""The one lifecycle of a detached worker - local, hosted and Tinker alike.

`DetachedWorker.main([RUN_DIR])` is a worker process's whole life around its own `body()`:

- the run's lock held (`liveness.hold`): a second worker on the same run exits 2 and touches nothing;
- status `running` with what `cancel` and `ftwizard runs` need: `pid` + `pid_start_ticks` (or
  `pid_create_time`), `pgid`, `host`, `worker_started_at`; a stale `error` / `error_kind` cleared;
- the stop signals (SIGTERM, and what a worker adds) turned into a stop: a flag the body polls at a safe point
  (`self.stop.requested`), or `Stopped` raised where the body is (`stop_raises`);
- one ending, recorded once: `Ended` (succeeded | cancelled: status + a status event), or a `Failure` (an
  `error` event with `message`, `kind`, `advice`; status `failed` with the one-line `error` and `error_kind`; a
  status event). A body raises a `Failure`, or its own error that `explain` turns into one; a full disk is
  the `disk` failure (the run's space reserve makes room for the record); anything else is a bug: the `crash`
  failure, its redacted traceback in worker.log;
- every message, advice and detail passed through `retry.redact` (the secrets the settings declare), and so
  is every log record of the worker's libraries;
- the exit code: `EXIT_OK`, `EXIT_FAILED`, `EXIT_REFUSED` (bad input; a live worker), `EXIT_STOPPED`.

The on-disk contract is docs/ARCHITECTURE.md, "The run directory".
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

from ftwizard import settings
from ftwizard.errors import UsageError
from ftwizard.fsutil import is_disk_full
from ftwizard.runs import liveness
from ftwizard.runs.directory import RunDirectory
from ftwizard.retry import redact

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2      # bad input, or another worker holds the run
EXIT_STOPPED = 130    # a stop signal ended the attempt (128 + SIGINT, as a shell reports Ctrl-C)


class Evaluator(Protocol):
    """What a worker is handed to evaluate its run once training is done (`evaluation.runner.evaluate_after_training`,
    given by the entry points in `ftwizard.workers`, a layer above both training and evaluation)."""

    def __call__(self, run: RunDirectory, *, log: Callable[[str], None], **engine: Any) -> str | None: ...


class Stopped(BaseException):
    """A stop signal, raised where the worker is (`DetachedWorker.stop_raises`) - often inside an SDK request. A
    BaseException like KeyboardInterrupt: the SDKs turn any `Exception` raised while sending into a (retried)
    connection error, which would swallow the stop and carry on."""


class StopFlag:
    """The stop signals' handler: sets `requested` (and `signame`); raises `Stopped` when `raises`."""

    def __init__(self, *, raises: bool = False):
        self.requested = False
        self.signame = ""
        self.raises = raises

    def __call__(self, signum: int, _frame: Any) -> None:
        self.requested = True
        self.signame = signal.Signals(signum).name
        if self.raises:
            raise Stopped(self.signame)


class Failure(Exception):
    """How an attempt failed, as the run records it: `message` (the error event's; its first line is status.json's
    `error`), `kind` (`error_kind`), `advice` ("RUN_DIR" stands for the run's path), the exit `code`, extra
    `status` fields and extra fields of the error event."""

    def __init__(self, message: str, *, kind: str, advice: list[str] | tuple[str, ...] = (), code: int = EXIT_FAILED,
                 status: dict[str, Any] | None = None, **fields: Any):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.advice = list(advice)
        self.code = code
        self.status = dict(status or {})
        self.fields = fields


@dataclass(frozen=True)
class Ended:
    """An attempt that ended without failing: `succeeded`, or `cancelled` (a cancel the worker obeyed)."""

    state: str
    detail: str = ""
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return EXIT_OK if self.state == "succeeded" else EXIT_STOPPED


def free_space(path: Path) -> str:
    """"free space (N GB free on the disk of PATH)": the first advice of every full disk."""
    import shutil

    try:
        return f"free space ({shutil.disk_usage(path).free / 1e9:.1f} GB free on the disk of {path})"
    except OSError:
        return f"free space on the disk of {path}"


def disk_full(e: BaseException, path: Path, advice: list[str] | tuple[str, ...] | None = None) -> Failure:
    """The failure of a write that met a full disk (`advice` defaults to freeing space on the disk of `path`)."""
    return Failure(f"disk full: {e}", kind="disk", advice=[free_space(path)] if advice is None else advice)


class _RedactingHandler(logging.StreamHandler):
    """Log records on stderr (worker.log) through the one redaction. The stream is looked up at each record, as
    logging's own last-resort handler does, so a worker called in-process (tests) writes where stderr is now."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: int) -> None:
    """The worker's libraries log to worker.log (stderr) through the one redaction (once per process)."""
    root = logging.getLogger()
    if not any(isinstance(h, _RedactingHandler) for h in root.handlers):
        root.addHandler(_RedactingHandler())
        root.setLevel(level)
    for name in ("httpx", "httpx2"):  # one line per request is noise in worker.log
        logging.getLogger(name).setLevel(logging.WARNING)


class DetachedWorker:
    """A detached worker process: subclass, give it a `body`, and start it with `main`. Hooks: `running_fields`,
    `explain`, `stopped`, `on_failure`, `resume_refusal`."""

    who: ClassVar[str] = "worker"                       # "ftwizard <who>: ..." in messages
    stop_signals: ClassVar[tuple[int, ...]] = (signal.SIGTERM,)
    stop_raises: ClassVar[bool] = False                 # True: `Stopped` is raised where the body is
    log_level: ClassVar[int] = logging.WARNING
    # Appended to a failure's advice when none offers `run --resume` and the resume rule accepts the run.
    resume_offer: ClassVar[str | None] = None
    # Added to a crash's advice (the traceback's place comes first).
    crash_advice: ClassVar[tuple[str, ...]] = ()

    def __init__(self, run: RunDirectory, *, writes: bool = True):
        self.run = run
        self.writes = writes  # False: a torchrun rank other than 0 (rank 0 alone writes the run directory)
        self.stop = StopFlag(raises=self.stop_raises)

    # -- what a worker gives --------------------------------------------------------------------------
    def body(self) -> Ended:
        raise NotImplementedError

    def running_fields(self) -> dict[str, Any]:
        """Fields of its own in the `running` status (backend, provider, world size)."""
        return {}

    def explain(self, e: Exception) -> Failure | None:
        """The worker's own errors as failures (None: not one of them). Bad input is `data` by default."""
        if isinstance(e, UsageError):
            return Failure(str(e), kind="data")
        return None

    def stopped(self) -> Ended | Failure:
        """`Stopped` or Ctrl-C reached the scaffold: cancelled when a cancel asked for it, else a stop to resume."""
        if self.run.status().get("cancel_requested"):
            return Ended("cancelled", "cancelled")
        return Failure(f"the {self.who} was stopped; continue with `ftwizard run --resume RUN_DIR`", kind="stopped",
                       code=EXIT_STOPPED)

    def on_failure(self, failure: Failure) -> None:
        """Before a failure is written: add status / event fields, log what is kept."""

    def resume_refusal(self, status: dict[str, Any]) -> str | None:
        """Why `run --resume` would refuse the run in `status` (the one rule is the backend's); None: it would not."""
        return None

    # -- the scaffold ---------------------------------------------------------------------------------
    @classmethod
    def main(cls, argv: list[str] | None = None, **options: Any) -> int:
        """`python -m <entry> RUN_DIR`: the lock, then `cls(run, **options).lifecycle()`."""
        argv = list(sys.argv[1:] if argv is None else argv)
        if len(argv) != 1:
            print(f"usage: python -m ftwizard.workers.<local|hosted|tinker> RUN_DIR ({cls.who})", file=sys.stderr)
            return EXIT_REFUSED
        setup_logging(cls.log_level)
        try:
            run = RunDirectory.open(argv[0])
            with liveness.hold(run):
                return cls(run, **options).lifecycle()
        except UsageError as e:  # no such run, or another worker holds it: nothing in the run is touched
            print(f"ftwizard {cls.who}: {redact(e)}", file=sys.stderr)
            return EXIT_REFUSED

    def lifecycle(self) -> int:
        """Running, the body, one ending. Call it holding the run's lock."""
        # The handlers are the process's: put back what was there when the attempt ends, so a worker run in
        # another program's process (a test, an embedding) does not leave Ctrl-C meaning "stop a worker" there.
        previous = {sig: signal.getsignal(sig) for sig in self.stop_signals}
        for sig in self.stop_signals:
            signal.signal(sig, self.stop)
        try:
            end: Ended | Failure
            try:
                try:
                    self._write_status(**self._running())
                    self._event("status", state="running", detail=f"{self.who} started")
                    end = self.body()
                except (Stopped, KeyboardInterrupt):
                    end = self.stopped()
            except Failure as f:
                end = f
            except Exception as e:  # noqa: BLE001 - every failure is recorded, never a raw traceback with secrets
                end = self._unexpected(e)
            self.stop.raises = False  # a late signal must not cut the record short
            return self.record(end)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def record(self, end: Ended | Failure) -> int:
        """Write the ending (status, events) once and return the exit code."""
        if isinstance(end, Failure):
            return self._fail(end)
        self._write_status(state=end.state, **end.status)
        self._event("status", state=end.state, detail=redact(end.detail))
        return end.code

    def _running(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"state": "running", "host": socket.gethostname(), "error": None,
                                  "error_kind": None, "worker_started_at": time.time()}
        if not settings.under_torchrun():  # torchrun is the process its launcher recorded (and signals)
            fields.update(pgid=os.getpgid(0), **liveness.identity(os.getpid()))
        return {**fields, **self.running_fields()}

    def _unexpected(self, e: Exception) -> Failure:
        failure = self.explain(e)
        if failure is not None:
            return failure
        if is_disk_full(e):
            return disk_full(e, self.run.path)
        print(redact(traceback.format_exc()), file=sys.stderr)
        first = str(e).splitlines()[0] if str(e) else ""
        return Failure(f"{type(e).__name__}: {first}", kind="crash",
                       advice=[f"the traceback is in {self.run.path / 'worker.log'}", *self.crash_advice])

    def _fail(self, f: Failure) -> int:
        path = str(self.run.path)

        def clean(text: Any) -> str:
            return redact(text).replace("RUN_DIR", path)

        if not self.writes:
            return f.code
        self.on_failure(f)
        message = clean(f.message)
        advice = [clean(a) for a in f.advice]
        first = message.splitlines()[0] if message else f.kind
        status = {"state": "failed", "error": first, "error_kind": f.kind, **f.status}
        refusal = self.resume_refusal({**self.run.status(), **status})
        if refusal:  # only commands that work in this state are offered
            advice = [a for a in advice if "--resume" not in a] + [clean(refusal)]
        elif self.resume_offer and not any("--resume" in a for a in advice) and "--resume" not in message:
            advice.append(clean(self.resume_offer))
        fields = {k: clean(v) if isinstance(v, str) else v for k, v in f.fields.items()}
        self._event("error", message=message, kind=f.kind, advice=advice, **fields)
        self._write_status(**status)
        self._event("status", state="failed", detail=first)
        return f.code

    def _write_status(self, **fields: Any) -> None:
        if self.writes:
            self.run.update_status(**fields)

    def _event(self, type: str, **fields: Any) -> None:
        if self.writes:
            self.run.append_event(type, **fields)
