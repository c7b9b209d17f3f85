"""`python -m ftwizard.backends.hosted.worker RUN_DIR`: upload, create the job once, follow it, record the result.

Runs in its own session (closing the terminal does not stop it) and talks to the CLI / TUI only through the
run directory. Started again on the same directory (`ftwizard run --resume`), it re-follows the recorded job;
a job that has already finished is recorded, never created or uploaded again. The provider (OpenAI, Azure,
Together) comes from the recipe, through `ftwizard.backends.backend_for`.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from ftwizard.runs import liveness
from ftwizard.backends.hosted.providers import HostedError, redact
from ftwizard.errors import FtwizardError, UsageError
from ftwizard.runs.directory import RunDirectory


class _Stopped(BaseException):
    """SIGTERM, raised wherever the worker is - often inside an SDK request. A BaseException like
    KeyboardInterrupt: the SDKs turn any `Exception` raised while sending into a (retried) APIConnectionError,
    which would swallow the stop and keep following."""


def _on_sigterm(signum, frame):
    raise _Stopped()


def fail(run: RunDirectory, message: str, *, kind: str = "api", advice: list[str] | None = None) -> None:
    """Record the failure, where it happened in what was paid for (`failed_phase`), and only advice that works
    in that state: `run --resume` is offered when the resume rule accepts this run, its refusal otherwise."""
    from ftwizard.backends import backend_for_run
    from ftwizard.backends.hosted import failed_phase

    path = str(run.path)
    message = redact(message).replace("RUN_DIR", path)
    advice = [redact(a).replace("RUN_DIR", path) for a in (advice or [])]
    st = run.status()
    fields = {"state": "failed", "error": message.splitlines()[0], "error_kind": kind,
              "failed_phase": failed_phase(st)}
    refusal = backend_for_run(run).resume_refusal(run, {**st, **fields})
    if refusal:
        advice = [a for a in advice if "--resume" not in a] + [refusal]
    elif not any("--resume" in a for a in advice) and "--resume" not in message:
        advice.append(f"continue it with `ftwizard run --resume {path}` (no second job is created)")
    run.append_event("error", message=message, kind=kind, advice=advice, failed_phase=fields["failed_phase"])
    run.update_status(**fields)
    run.append_event("status", state="failed", detail=kind)


def fail_unexpected(run: RunDirectory, e: BaseException) -> int:
    """A bug in a worker: one line in the run, the traceback (redacted) in worker.log; exit code 1. A full disk
    is no bug: it is recorded as one (the run's space reserve makes room for the record)."""
    from ftwizard.fsutil import is_disk_full

    if is_disk_full(e):
        fail(run, f"disk full: {e}", kind="disk", advice=[f"free space on the disk of {run.path}"])
        return 1
    fail(run, f"unexpected {type(e).__name__}: {e}", kind="internal",
         advice=[f"the traceback is in {run.path / 'worker.log'}"])
    import traceback

    print(redact(traceback.format_exc()), file=sys.stderr)
    return 1


def evaluate(run: RunDirectory, recipe, *, local: bool = False) -> None:
    """`local`: the provider evaluates the downloaded adapter on this machine (Fireworks without a deployment)."""
    if not recipe.eval.enabled:
        run.log("evaluation is off (eval.enabled = false)", source="hosted")
        return
    from ftwizard.evaluation.runner import evaluate_after_training

    # The recipe's `eval.baseline = true` is the user's consent to pay for the base model's answers; their
    # estimated cost is still recorded as a cost event before any request is made.
    evaluate_after_training(run, log=lambda text: run.log(text, source="hosted"),
                            confirm_cost=lambda _estimate: True, **({"local": True} if local else {}))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m ftwizard.backends.hosted.worker RUN_DIR", file=sys.stderr)
        return 2
    run = RunDirectory.open(argv[0])
    return liveness.run_worker(run, _work, "hosted worker")  # a second worker on this run is refused


def _work(run: RunDirectory) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    recipe = run.recipe()
    run.update_status(state="running", backend="hosted", provider=recipe.hosted.provider,
                      **liveness.identity(os.getpid()), pgid=os.getpgid(0), host=socket.gethostname(), error=None,
                      worker_started_at=time.time())
    run.append_event("status", state="running", detail="worker started")
    try:
        from ftwizard.backends import backend_for

        provider = backend_for(recipe)
        job = provider.make_job(run, recipe)
        final = job.execute()
        if final == "cancelled":
            run.update_status(state="cancelled")
            run.append_event("status", state="cancelled", detail="cancelled")
            return 130
        provider.after_training(run, recipe)
        try:
            evaluate(run, recipe, local=provider.evaluates_at_home(recipe))
        finally:  # what was made only for evaluation (a Fireworks deployment) never outlives it
            provider.after_evaluation(run, recipe)
        run.update_status(state="succeeded")
        run.append_event("status", state="succeeded", detail="succeeded")
        return 0
    except HostedError as e:
        fail(run, e.message, kind=e.kind, advice=e.advice)
        return 1
    except UsageError as e:
        fail(run, str(e), kind="data")
        return 1
    except (_Stopped, KeyboardInterrupt):
        job_id = run.status().get("job_id")
        where = f"job {job_id} goes on at the provider; " if job_id else ""
        fail(run, f"the hosted follower was stopped; {where}re-follow it with `ftwizard run --resume {run.path}`",
             kind="stopped")
        return 130
    except Exception as e:  # noqa: BLE001 - recorded, never a raw traceback with secrets in it
        return fail_unexpected(run, e)


if __name__ == "__main__":
    sys.exit(main())
