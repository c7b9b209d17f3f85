"""The hosted worker, started as `python -m ftwizard.workers.hosted RUN_DIR`: upload, create the job once, follow it,
record the result.

Runs in its own session (closing the terminal does not stop it) and talks to the CLI / TUI only through the
run directory. Started again on the same directory (`ftwizard run --resume`), it re-follows the recorded job;
a job that has already finished is recorded, never created or uploaded again. The provider (OpenAI, Azure,
Together) comes from the recipe, through `ftwizard.backends.backend_for`.
"""

from __future__ import annotations

from typing import Any

from ftwizard.backends.hosted.providers import HostedError
from ftwizard.runs.directory import RunDirectory
from ftwizard.runs.worker import EXIT_STOPPED, DetachedWorker, Ended, Evaluator, Failure


class HostedWorker(DetachedWorker):
    """The follower of a provider's job; its lifecycle is every worker's (`ftwizard.runs.worker`). SIGTERM is
    raised where the worker is (often inside an SDK request) and ends in `stopped`: the job goes on at the
    provider (a cancel goes through the provider's API, `JobProvider.cancel`, which the job sees)."""

    who = "hosted worker"
    stop_raises = True
    resume_offer = "continue it with `ftwizard run --resume RUN_DIR` (no second job is created)"

    def __init__(self, run: RunDirectory, *, evaluate: Evaluator):
        super().__init__(run)
        self.evaluate_after_training = evaluate

    def running_fields(self) -> dict[str, Any]:
        return {"backend": "hosted", "provider": self.run.recipe().hosted.provider}

    def body(self) -> Ended:
        from ftwizard.backends import backend_for

        run = self.run
        recipe = run.recipe()
        provider = backend_for(recipe)
        job = provider.make_job(run, recipe)
        if job.execute() == "cancelled":
            return Ended("cancelled", "cancelled")
        provider.after_training(run, recipe)
        try:
            self.evaluate(recipe, local=provider.evaluates_at_home(recipe))
        finally:  # what was made only for evaluation (a Fireworks deployment) never outlives it
            provider.after_evaluation(run, recipe)
        return Ended("succeeded", "succeeded")

    def evaluate(self, recipe, *, local: bool = False) -> None:
        """`local`: the provider evaluates the downloaded adapter on this machine (Fireworks without a deployment)."""
        run = self.run
        if not recipe.eval.enabled:
            run.log("evaluation is off (eval.enabled = false)", source="hosted")
            return
        # The recipe's `eval.baseline = true` is the user's consent to pay for the base model's answers; their
        # estimated cost is still recorded as a cost event before any request is made.
        self.evaluate_after_training(run, log=lambda text: run.log(text, source="hosted"),
                                     confirm_cost=lambda _estimate: True, **({"local": True} if local else {}))

    def explain(self, e: Exception) -> Failure | None:
        if isinstance(e, HostedError):
            return Failure(e.message, kind=e.kind, advice=e.advice)
        return super().explain(e)

    def stopped(self) -> Ended | Failure:
        job_id = self.run.status().get("job_id")
        where = f"job {job_id} goes on at the provider; " if job_id else ""
        return Failure(f"the hosted follower was stopped; {where}re-follow it with `ftwizard run --resume RUN_DIR`",
                       kind="stopped", code=EXIT_STOPPED)

    def on_failure(self, failure: Failure) -> None:
        """Where it failed in what was paid for (`failed_phase`), in the status and the error event."""
        from ftwizard.backends.hosted import failed_phase

        phase = failed_phase(self.run.status())
        failure.status["failed_phase"] = phase
        failure.fields["failed_phase"] = phase

    def resume_refusal(self, status: dict[str, Any]) -> str | None:
        from ftwizard.backends import backend_for_run

        return backend_for_run(self.run).resume_refusal(self.run, status)


def main(argv: list[str] | None, *, evaluate: Evaluator) -> int:
    """The worker process's life (`ftwizard.workers.hosted` hands it the evaluation)."""
    return HostedWorker.main(argv, evaluate=evaluate)
