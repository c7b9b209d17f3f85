"""The hosted backend (OpenAI / Azure OpenAI fine-tuning jobs): preflight, start, resume, cancel, is_alive.

Light to import: the openai SDK is loaded only by the functions that talk to the provider. The work is done
by `python -m ftwizard.backends.hosted.worker RUN_DIR` in its own session; this module launches it and
follows the run directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ftwizard.errors import ExitCode, UsageError
from ftwizard.rundir import FINAL_STATES, RunDirectory

WORKER_MODULE = "ftwizard.backends.hosted.worker"
WORKER_LOG = "worker.log"


def preflight(recipe) -> None:
    """Fails early: missing provider variables (named, never their values), an unusable chat file."""
    from ftwizard.backends.hosted.job import check_chat_file, render_chat_files
    from ftwizard.backends.hosted.providers import config_for_recipe

    problems: list[str] = []
    try:
        config_for_recipe(recipe)
    except UsageError as e:
        problems += e.problems
    with tempfile.TemporaryDirectory(prefix="ftwizard-preflight-") as tmp:
        try:
            paths = render_chat_files(recipe, Path(tmp))
            for key, path in paths.items():
                try:
                    check_chat_file(path, recipe.hosted.model)
                except UsageError as e:
                    problems += [p.replace(str(path), f"{key} chat file ({path.name})") for p in e.problems]
        except UsageError as e:
            problems += e.problems
    if problems:
        raise UsageError(problems)


def _launch(run: RunDirectory) -> int:
    log = open(run.path / WORKER_LOG, "ab")
    try:
        proc = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, str(run.path)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    finally:
        log.close()
    run.update_status(backend="hosted", pid=proc.pid, pgid=proc.pid)
    return proc.pid


def _ask(console) -> str:
    """Ctrl-C while following a hosted job: cancel the job (billing stops) or detach (the job goes on)."""
    if not sys.stdin or not sys.stdin.isatty():
        return "detach"
    while True:
        try:
            console.print("[bold]Ctrl-C:[/bold] [d]etach (the job keeps running at the provider; "
                          "`ftwizard attach` to follow it again) or [c]ancel the job? [d/c] ", end="")
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            console.print()
            return "detach"
        a = answer.strip().lower()
        if not answer or a in ("d", "detach", ""):
            return "detach"
        if a in ("c", "cancel"):
            return "cancel"


def follow_run(run: RunDirectory, *, ask=None) -> int:
    """Follow a hosted run on stderr; Ctrl-C asks: cancel the job, or detach and leave it running."""
    from ftwizard.follow import follow

    return follow(run, is_alive=lambda: is_alive(run), cancel=lambda: cancel(run), ask=ask or _ask,
                  resume_hint=f"or re-follow the job with `ftwizard run --resume {run.path}`")


def start(run: RunDirectory, recipe, *, detach: bool) -> int:
    from ftwizard.backends.hosted.job import render_chat_files
    from ftwizard.cli import output

    run.update_status(backend="hosted", provider=recipe.hosted.provider, hosted_model=recipe.hosted.model)
    render_chat_files(recipe, run.data_dir)
    _launch(run)
    if detach:
        output.info(f"started; follow it with `ftwizard attach {run.path}`")
        return int(ExitCode.OK)
    return follow_run(run)


def resume(run: RunDirectory, *, detach: bool) -> int:
    from ftwizard.cli import output

    status = run.status()
    state = status.get("state")
    if state == "succeeded":
        output.info(f"{run.path} has already succeeded ({status.get('fine_tuned_model')}); nothing to resume")
        return int(ExitCode.OK)
    if state == "cancelled":
        output.info(f"{run.path} was cancelled; start a new run to train again")
        return int(ExitCode.INTERRUPTED)
    if not is_alive(run):
        if status.get("job_id"):
            output.info(f"re-following job {status['job_id']} (no new job is created)")
        _launch(run)
    if detach:
        return int(ExitCode.OK)
    return follow_run(run)


def cancel(run: RunDirectory) -> None:
    """Cancel the provider's job (the worker sees it end and marks the run `cancelled`)."""
    from ftwizard.backends.hosted.providers import config_for_recipe, with_retries

    run.update_status(cancel_requested=True)
    run.append_event("log", text="cancel requested", source="hosted")
    status = run.status()
    job_id = status.get("job_id")
    if not job_id:
        if not is_alive(run) and status.get("state") not in FINAL_STATES:
            run.update_status(state="cancelled")
            run.append_event("status", state="cancelled", detail="cancelled before the job was created")
        return  # a live worker checks `cancel_requested` before and right after creating the job
    recipe = run.recipe()
    cfg = config_for_recipe(recipe)
    client = cfg.make_client()
    job = with_retries(lambda: client.fine_tuning.jobs.retrieve(job_id), what="reading the job", cfg=cfg)
    if job.status not in ("succeeded", "failed", "cancelled"):
        job = with_retries(lambda: client.fine_tuning.jobs.cancel(job_id), what="cancelling the job", cfg=cfg)
    run.append_event("log", text=f"job {job_id}: {job.status}", source="hosted")
    if not is_alive(run) and job.status == "cancelled":
        run.update_status(state="cancelled", job_status="cancelled")
        run.append_event("status", state="cancelled", detail="cancelled")


def is_alive(run: RunDirectory) -> bool:
    from ftwizard.backends.hosted.job import pid_alive

    pid = run.status().get("pid")
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as f:
            return WORKER_MODULE.encode() in f.read()
    except OSError:
        return True
