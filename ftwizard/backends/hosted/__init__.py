"""Hosted fine-tuning providers behind the one backend interface (`ftwizard.backends.base.HostedProvider`).

`JobProvider` is what every job-API provider shares (OpenAI, Azure OpenAI, Together AI): preflight checks,
launching the worker (`python -m ftwizard.workers.hosted RUN_DIR`, in its own session), resume (the
recorded job, never a second one), cancel (the provider's job), is_alive, price. A provider class says which
`HostedJob` drives its API. Light to import: provider SDKs are loaded only by the functions that talk to them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ftwizard.backends.base import HostedProvider
from ftwizard.errors import UsageError
from ftwizard.runs.directory import FINAL_STATES, RunDirectory

if TYPE_CHECKING:
    from ftwizard.backends.hosted.job import HostedJob
    from ftwizard.backends.hosted.providers import ProviderConfig
    from ftwizard.recipe import Recipe

WORKER_MODULE = "ftwizard.workers.hosted"  # the entry point above evaluation (ftwizard/workers)
WORKER_LOG = "worker.log"


def recipes_that_run_today(task: str | None = None) -> list[str]:
    """`ftwizard run recipes/...` for each bundled recipe whose path is open today (local LoRA or a provider
    whose model the catalog says can still be trained)."""
    from ftwizard import settings
    from ftwizard.bundled import bundled_recipes
    from ftwizard.catalog import get_hosted_model
    from ftwizard.recipe import load_recipe

    today = settings.as_of()
    out = []
    for b in bundled_recipes():
        if task and b.task != task:
            continue
        if b.backend == "hosted":
            r = load_recipe(b.path)
            try:
                if not get_hosted_model(r.hosted.model, r.hosted.provider).available(today):
                    continue
            except UsageError:
                continue
        out.append(b.command or f"ftwizard run recipes/{b.path.name}")
    return out


def spawn_worker(run: RunDirectory, module: str) -> int:
    """Start `python -m MODULE RUN_DIR` in its own session (it outlives the terminal), output to worker.log,
    holding the run's lock (`ftwizard.runs.liveness`): refused while another worker lives."""
    from ftwizard.runs import liveness

    log = open(run.path / WORKER_LOG, "ab")
    try:
        proc = liveness.spawn(run, [sys.executable, "-m", module, str(run.path)], log=log)
    finally:
        log.close()
    run.update_status(backend="hosted")
    return proc.pid


FAILED_PHASES = ("before_job", "job", "after_job")


def failed_phase(status: dict) -> str:
    """Where a hosted run stands in what is paid for, from the facts status.json records: `before_job` (no job
    exists, nothing billed), `job` (a job was created and has not succeeded: it may still run, or have failed
    at the provider - `job_outcome` says), `after_job` (the job succeeded and was paid; what failed came after
    it: its results, the adapter download, a deployment, the evaluation). Recorded as `failed_phase` with a
    failure."""
    if status.get("job_outcome") == "succeeded" or status.get("fine_tuned_model") or status.get("training_done"):
        return "after_job"
    if status.get("job_id") or status.get("tinker_model_id"):
        return "job"
    return "before_job"


def worker_alive(run: RunDirectory) -> bool:
    """Whether a worker holds the run's lock (exact: the kernel lets go when the process ends)."""
    from ftwizard.runs import liveness

    return liveness.worker_running(run)


class JobProvider(HostedProvider):
    """A provider whose fine-tuning is a job it runs, followed by our worker through its API."""

    worker_module: ClassVar[str] = WORKER_MODULE
    sdk_extra: ClassVar[str] = ""          # the pip extra that installs this provider's SDK ("" = core)
    sdk_module: ClassVar[str] = "openai"

    # -- what a provider says ---------------------------------------------------------------------------
    def config(self, recipe: "Recipe") -> "ProviderConfig":
        from ftwizard.backends.hosted.providers import config_for_recipe

        return config_for_recipe(recipe)

    # the provider's job driver (a `HostedJob` subclass: the provider calls; the exactly-once rules are shared)
    job_class: ClassVar[type["HostedJob"]]

    def make_job(self, run: RunDirectory, recipe: "Recipe") -> "HostedJob":
        """The job driver for this run, with a fresh SDK client."""
        cfg = self.config(recipe)
        return self.job_class(run, recipe, cfg.make_client(), cfg)

    def after_training(self, run: RunDirectory, recipe: "Recipe") -> None:
        """What comes after the job succeeded and before evaluation (Azure, Fireworks: the deployment)."""

    def after_evaluation(self, run: RunDirectory, recipe: "Recipe") -> None:
        """What comes after evaluation, whatever it did (Fireworks: the deployment made for it is deleted)."""

    def evaluates_at_home(self, recipe: "Recipe") -> bool:
        """Whether the worker evaluates the downloaded adapter on this machine instead of a hosted endpoint."""
        return False

    def preflight_extra(self, recipe: "Recipe") -> list[str]:
        """Provider-specific problems found before anything exists."""
        return []

    # -- Backend ----------------------------------------------------------------------------------------
    def preflight(self, recipe: "Recipe") -> None:
        """Fails early, before any request: a model closed for training on this day (with the recipes that run
        today), missing provider variables (named, never their values), a missing SDK, an unusable chat file."""
        from ftwizard import settings
        from ftwizard.catalog import get_hosted_model

        h = recipe.hosted
        try:
            model = get_hosted_model(h.model, h.provider)
        except UsageError as e:
            model = None
            problems = [f"hosted.model: {p}" for p in e.problems]
        else:
            problems = []
        if model is not None:
            reason = model.training_closed_reason(settings.as_of())
            if reason:
                today = recipes_that_run_today(recipe.task)
                raise UsageError([f"hosted.model = {h.model!r} on {h.provider}: {reason}; nothing was uploaded",
                                  "recipes for this task that run today: "
                                  + (", ".join(f"`{c}`" for c in today) if today else "none bundled")])
        try:
            self.config(recipe)
        except UsageError as e:
            problems += e.problems
        problems += self._sdk_problem()
        problems += self.preflight_extra(recipe)
        problems += self._chat_file_problems(recipe)
        if problems:
            raise UsageError(problems)

    def _sdk_problem(self) -> list[str]:
        import importlib.util

        if importlib.util.find_spec(self.sdk_module) is None:
            return [f"the `{self.sdk_module}` SDK is not installed: pip install 'ftwizard[{self.sdk_extra}]'"]
        return []

    @staticmethod
    def _chat_file_problems(recipe: "Recipe") -> list[str]:
        from ftwizard.backends.hosted.job import check_chat_file, render_chat_files

        problems: list[str] = []
        with tempfile.TemporaryDirectory(prefix="ftwizard-preflight-") as tmp:
            try:
                paths = render_chat_files(recipe, Path(tmp))
                for key, path in paths.items():
                    try:
                        check_chat_file(path, recipe.hosted.model, recipe.hosted.provider)
                    except UsageError as e:
                        problems += [p.replace(str(path), f"{key} chat file ({path.name})") for p in e.problems]
            except UsageError as e:
                problems += e.problems
        return problems

    def launch(self, run: RunDirectory, recipe: "Recipe") -> None:
        from ftwizard.backends.hosted.job import render_chat_files

        run.update_status(backend="hosted", provider=recipe.hosted.provider, hosted_model=recipe.hosted.model)
        render_chat_files(recipe, run.data_dir)
        self._spawn(run)

    def _spawn(self, run: RunDirectory) -> int:
        return spawn_worker(run, self.worker_module)

    def resume(self, run: RunDirectory) -> None:
        """Re-follow the recorded job (a live worker is left alone; a dead one is started again)."""
        refusal = self.resume_refusal(run)
        if refusal:
            raise UsageError(refusal)
        from ftwizard.runs import liveness

        if run.status().get("state") in FINAL_STATES:
            # A worker that has just recorded its end may still be exiting: let it go before starting anew.
            deadline = time.time() + 15
            while self.is_alive(run) and time.time() < deadline:
                time.sleep(0.1)
        if self.is_alive(run):
            return  # its worker is at work: the caller follows it
        try:
            with liveness.claim(run):
                st = run.status()
                if st.get("job_id"):
                    run.log(f"re-following job {st['job_id']} (no new job is created)", source="hosted")
                if st.get("state") in FINAL_STATES:
                    # Running from here on, so a face following the run does not read the old `failed` as its end.
                    run.update_status(state="running", error=None, error_kind=None, failed_phase=None)
                    run.append_event("status", state="running", detail="resumed")
                self._spawn(run)
        except liveness.WorkerRunning:
            return  # another resume started it a moment ago: follow that one

    def ended_refusal(self, run: RunDirectory, state: str, why: str, status: dict) -> str | None:
        """What was paid for decides (`failed_phase`): a run that failed before any job, or whose job still runs,
        or whose job succeeded and something after it failed (results, adapter download, deployment,
        evaluation) continues - the recorded job is followed again, never created again. Only a job that itself
        failed or was cancelled at the provider cannot continue: training again is a new job and a new bill."""
        if state == "failed":
            phase = status.get("failed_phase") or failed_phase(status)
            outcome = status.get("job_outcome")
            if phase != "job" or outcome not in ("failed", "cancelled"):
                return None
            return (f"{run.path} failed{why}: job {status.get('job_id')} itself {outcome} at the provider, so it "
                    f"cannot continue, and training again would create and bill a new job. To train again, start "
                    f"a new run: `ftwizard run {run.recipe_path}`")
        return (f"{run.path} was {state}{why}; a cancelled job cannot continue, and resuming would create and "
                f"bill a new job. To train again, start a new run: `ftwizard run {run.recipe_path}`")

    def cancel(self, run: RunDirectory) -> None:
        """Cancel the provider's job (the worker sees it end and marks the run `cancelled`)."""
        from ftwizard.backends.hosted.providers import HostedError

        run.update_status(cancel_requested=True)
        run.append_event("log", text="cancel requested", source="hosted")
        status = run.status()
        job_id = status.get("job_id")
        if not job_id:
            if not self.is_alive(run) and status.get("state") not in FINAL_STATES:
                run.update_status(state="cancelled")
                run.append_event("status", state="cancelled", detail="cancelled before the job was created")
            return  # a live worker checks `cancel_requested` before and right after creating the job
        job = self.make_job(run, run.recipe())
        view = job._call(lambda: job.retrieve(job_id), "reading the job")
        if view.outcome == "running":
            try:
                job._call(lambda: job.cancel_remote(job_id), "cancelling the job")
            except HostedError:
                # The job may have ended between our read and our cancel (the worker, which also saw
                # cancel_requested, may have cancelled it first): read it again, and fail only if it still runs.
                view = job._call(lambda: job.retrieve(job_id), "reading the job")
                if view.outcome == "running":
                    raise
            view = job._call(lambda: job.retrieve(job_id), "reading the job")
        run.append_event("log", text=f"job {job_id}: {view.status}", source="hosted")
        if not self.is_alive(run) and view.outcome == "cancelled":
            run.update_status(state="cancelled", job_status=view.status)
            run.append_event("status", state="cancelled", detail="cancelled")

    def generator(self, run: RunDirectory, *, baseline: bool = False, home: bool = False, **engine):
        from ftwizard.backends.hosted.generator import hosted_generator

        return hosted_generator(self, run, baseline=baseline, home=home, **engine)

    def is_alive(self, run: RunDirectory) -> bool:
        return worker_alive(run)

    def price(self, recipe: "Recipe") -> dict[str, Any]:
        """Our estimate from the rendered chat file (the cookbook's billed tokens) and the catalog's rate."""
        from ftwizard.backends.hosted.job import check_chat_file, job_plan, render_chat_files

        with tempfile.TemporaryDirectory(prefix="ftwizard-price-") as tmp:
            paths = render_chat_files(recipe, Path(tmp))
            report = check_chat_file(paths["train"], recipe.hosted.model, recipe.hosted.provider)
        plan = job_plan(recipe, report)
        if plan.usd is None:
            raise UsageError(f"hosted.model = {recipe.hosted.model!r} is not in the price catalog")
        return plan.as_dict()

    # -- following (the CLI's follow.py asks this on Ctrl-C) --------------------------------------------
    def follow_options(self, run: RunDirectory) -> dict:
        return {"ask": self.ask_on_interrupt,
                "resume_hint": f"or re-follow the job with `ftwizard run --resume {run.path}`"}

    @staticmethod
    def ask_on_interrupt(console) -> str:
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
