"""The one table of worker failures (`ftwizard.runs.failures`): every row, the real writers' failures read through
it with the backends' resume rule, and both faces showing its next action."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ftwizard.runs import events as E
from ftwizard.runs.failures import FAILURES, UNKNOWN, explain
from ftwizard.usecases.failures import failure_of
from tests.test_events import _run, write_local_stream

RUN = "/runs/r-1"
RESUME = f"continue it: `ftwizard run --resume {RUN}`"


def _failed(kind: str | None, advice=("do this first", "then that")) -> E.Progress:
    """A run as a worker that failed this way leaves it: the error event, its status event, status.json."""
    return E.fold_all(E.typed([
        {"t": 1.0, "type": "status", "state": "running"},
        {"t": 2.0, "type": "error", "message": f"it broke ({kind})\ndetails", "kind": kind, "advice": list(advice)},
        {"t": 2.0, "type": "status", "state": "failed", "detail": kind}]),
        {"state": "failed", "error": f"it broke ({kind})", "error_kind": kind})


ADVICE_FIRST = [k for k, row in FAILURES.items() if row.next == "advice"]
RESUMES = [k for k, row in FAILURES.items() if row.next == "resume" and k not in ("gone", "cancelled")]
NEW_RUN = [k for k, row in FAILURES.items() if row.next == "new"]


def test_every_kind_a_worker_writes_has_a_row():
    """Every `kind="..."` in the workers' code (the scaffold's and the workers' Failure, HostedError, the
    evaluator's error events) has its row; the others there are cost and serving kinds."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parent.parent / "ftwizard"
    files = [*(src / "backends").rglob("*.py"), src / "evaluation" / "runner.py", src / "retry.py",
             src / "runs" / "worker.py", *(src / "workers").glob("*.py")]
    written = {k for p in files if p.exists() for k in re.findall(r'kind="(\w+)"', p.read_text(encoding="utf-8"))}
    written -= {"estimated", "actual", "so_far", "serverless"}
    assert {"oom", "disk", "crash", "load", "api", "auth", "eval", "stopped"} <= written
    assert written <= set(FAILURES), written - set(FAILURES)


@pytest.mark.parametrize("kind", ADVICE_FIRST)
def test_a_row_whose_next_action_is_the_workers_advice(kind):
    f = explain(_failed(kind), RUN, refusal=lambda: pytest.fail("the resume rule is not asked"))
    assert (f.kind, f.title, f.message, f.next) == (kind, FAILURES[kind].title, f"it broke ({kind})", "do this first")
    assert f.advice == ("then that",)
    assert f.lines() == [f"{FAILURES[kind].title}: it broke ({kind})", "  - then that", "next: do this first"]


@pytest.mark.parametrize("kind", ADVICE_FIRST)
def test_without_advice_such_a_row_falls_back_on_the_resume_rule(kind):
    assert explain(_failed(kind, advice=()), RUN).next == RESUME
    refused = explain(_failed(kind, advice=()), RUN, refusal=lambda: "start a new run: `ftwizard run x.toml`")
    assert refused.next == "start a new run: `ftwizard run x.toml`"


@pytest.mark.parametrize("kind", RESUMES)
def test_a_row_that_resumes_asks_the_resume_rule(kind):
    p = _failed(kind, advice=(f"continue it with `ftwizard run --resume {RUN}` (no second job)", "look at the log"))
    f = explain(p, RUN)
    assert f.title == FAILURES[kind].title and f.next == RESUME
    assert f.advice == ("look at the log",)  # the worker's own --resume advice is not said twice
    refused = explain(p, RUN, refusal=lambda: f"{RUN} failed; start a new run: `ftwizard run {RUN}/recipe.toml`")
    assert refused.next.startswith(f"{RUN} failed; start a new run")


@pytest.mark.parametrize("kind", NEW_RUN)
def test_a_row_that_needs_a_changed_recipe(kind):
    f = explain(_failed(kind), RUN, refusal=lambda: pytest.fail("the resume rule is not asked"))
    assert f.title == FAILURES[kind].title and f.next.endswith(f"`ftwizard run {RUN}/recipe.toml --set ...`")


def test_an_unknown_kind_is_the_generic_row():
    f = explain(_failed("cosmic-ray", advice=()), RUN)
    assert f.title == UNKNOWN.title and f.next == RESUME
    assert explain(_failed(None, advice=()), RUN).title == UNKNOWN.title


def test_the_eval_row_after_a_succeeded_training():
    p = E.fold_all(E.typed([
        {"t": 1.0, "type": "eval", "phase": "start", "done": 0, "total": 4},
        {"t": 2.0, "type": "error", "message": "evaluation: the endpoint refused", "kind": "eval",
         "advice": [f"the trained model is kept; evaluate it again with `ftwizard eval {RUN}`"]},
        {"t": 3.0, "type": "status", "state": "succeeded"}]))
    f = explain(p, RUN, refusal=lambda: pytest.fail("the resume rule is not asked"))
    assert (f.kind, f.title, f.next) == ("eval", FAILURES["eval"].title, f"evaluate it again: `ftwizard eval {RUN}`")
    assert f.advice == () and p.error is None  # the run itself did not fail
    # evaluated again: the failure no longer stands
    again = E.fold(p, E.from_dict({"t": 4.0, "type": "eval", "phase": "start", "done": 0, "total": 4}))
    assert explain(again, RUN) is None


def test_gone_and_cancelled_rows():
    running = E.fold_all(E.typed([{"t": 1.0, "type": "status", "state": "running"}]))
    assert explain(running, RUN) is None
    gone = explain(running, RUN, gone=True)
    assert (gone.kind, gone.title, gone.next) == ("gone", FAILURES["gone"].title, RESUME)
    cancelled = explain(E.fold_all([], {"state": "cancelled"}), RUN, refusal=lambda: "nothing to continue from")
    assert (cancelled.kind, cancelled.next) == ("cancelled", "nothing to continue from")
    assert explain(E.fold_all([], {"state": "succeeded"}), RUN) is None


# -- the real writers, the backends' rule ------------------------------------------------------------------------

def test_a_local_out_of_memory_shows_the_probes_advice(tmp_path):
    from ftwizard.backends.local.probe import oom_advice

    run = _run(tmp_path)
    write_local_stream(run)  # the local Worker's lifecycle records the out-of-memory
    p = E.fold_all(E.read(run), run.status())
    f = failure_of(run, p)
    _, advice = oom_advice(run.recipe(), None, None, "cpu")
    assert f.kind == "oom" and f.title == "out of memory" and f.message.startswith("out of memory")
    assert f.next == advice[0] and f.next.startswith("halve the micro-batch")


def test_a_failed_evaluation_written_by_the_evaluator(tmp_path, monkeypatch):
    import ftwizard.evaluation.runner as runner
    from ftwizard.errors import UsageError

    run = _run(tmp_path)

    def refuse(*a, **k):
        raise UsageError("eval data: no such file")

    monkeypatch.setattr(runner, "evaluate_run", refuse)
    assert runner.evaluate_after_training(run, log=lambda s: None) == "eval data: no such file"
    run.update_status(state="succeeded")
    f = failure_of(run, E.fold_all(E.read(run), run.status()))
    assert f.kind == "eval" and f.message == "eval data: no such file"  # status.json's eval_error
    assert f.next == f"evaluate it again: `ftwizard eval {run.path}`"


def test_a_gone_local_worker_resumes_and_a_cancel_without_checkpoint_starts_again(tmp_path):
    run = _run(tmp_path)
    run.update_status(state="running", pid=999999999)
    p = E.fold_all([], run.status())
    assert failure_of(run, p, gone=True).next == f"continue it: `ftwizard run --resume {run.path}`"
    run.update_status(state="cancelled")
    f = failure_of(run, E.fold_all([], run.status()))
    assert f.kind == "cancelled" and "before its first complete checkpoint" in f.next
    assert f"ftwizard run {run.recipe_path}" in f.next


def test_a_hosted_failure_recorded_by_the_hosted_worker(tmp_path):
    from ftwizard.backends.hosted.worker import HostedWorker
    from ftwizard.runs.worker import Failure

    run = _run(tmp_path, backend="hosted")
    run.update_status(state="running", backend="hosted")
    from ftwizard.evaluation.runner import evaluate_after_training

    HostedWorker(run, evaluate=evaluate_after_training).record(Failure("creating the job: the provider rejected the API key in OPENAI_API_KEY",
                                     kind="auth", advice=["set OPENAI_API_KEY to a key of the project"]))
    f = failure_of(run, E.fold_all(E.read(run), run.status()))
    assert f.kind == "auth" and f.title == FAILURES["auth"].title
    assert f.next == "set OPENAI_API_KEY to a key of the project"
    # the hosted worker's own "continue it with ... --resume" offer is not said twice beside it
    assert all("--resume" not in a for a in f.advice) or f.next != f.advice[0]


# -- the faces show it -------------------------------------------------------------------------------------------

def test_the_follower_says_the_next_action(tmp_path):
    from ftwizard.follow import follow

    run = _run(tmp_path)
    write_local_stream(run)
    out = io.StringIO()
    assert follow(run, console=Console(file=out, width=300), interval=0.05, timeout=5) == 1
    text = out.getvalue()
    assert "run failed: out of memory" in text and "next: halve the micro-batch" in text


async def test_the_wizard_shows_the_failure_and_its_next_action(tmp_path):
    from textual.widgets import Static

    from ftwizard.cli.attach import attach_state
    from ftwizard.tui.app import make_app

    run = _run(tmp_path)
    write_local_stream(run)
    app = make_app(state=attach_state([str(run.path)]), start_step=3, attach_only=True, runs_dir=run.path.parent)
    async with app.run_test(size=(200, 40)) as pilot:
        import time

        end = time.monotonic() + 60
        panel = ""
        while time.monotonic() < end and "next:" not in panel:
            await pilot.pause(0.1)
            found = app.screen.query("#run-error")
            panel = str(found.first(Static).render()) if found else ""
    assert panel.startswith("run 1: out of memory: out of memory"), panel
    assert "next: halve the micro-batch" in panel


def test_ftwizard_runs_says_a_gone_worker_as_the_table_does(tmp_path):
    import socket

    from ftwizard.runlist import summarize_run

    run = _run(tmp_path)
    run.update_status(state="running", backend="local", pid=999999999, host=socket.gethostname())
    s = summarize_run(run.path)  # no worker holds the run's lock
    assert s.state == "gone"
    assert f"{FAILURES['gone'].title}; continue it: `ftwizard run --resume {run.path}`" in s.notes
