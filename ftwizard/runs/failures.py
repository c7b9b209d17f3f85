"""The ways a run's worker can fail, in one table: each kind's headline and the next action shown for it.

A failed worker records an `error` event (its `kind`, its own message and advice) and `error_kind` in
status.json; a failed evaluation after training is an `eval` error with `eval_error`; a cancel is a final state;
a worker that died without a word is seen by the faces (`gone`). `explain` turns what a run's `Progress` says into
one `Failure`: the row's headline, the worker's message and advice, and the one next action: the worker's own
advice where it knows best (the memory probe's for an out-of-memory, a full disk's), `ftwizard eval RUN` after a
failed evaluation, else `ftwizard run --resume RUN` where the resume rule (`Backend.resume_refusal`, passed in as
`refusal`) allows it and the rule's own sentence (a new run) where it does not. `ftwizard run`'s follower and the
wizard's Train step both show a `Failure`; neither has a branch of its own per kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from ftwizard.runs.events import Progress

Next = Literal["advice", "resume", "eval", "new"]


@dataclass(frozen=True)
class Row:
    title: str
    next: Next   # advice: the worker's first advice (else the resume rule); resume: the resume rule;
                 # eval: evaluate again; new: a new run of the (changed) recipe


FAILURES: dict[str, Row] = {
    # the local worker (backends/local/worker.py: Worker.explain) and every worker's scaffold (runs/worker.py)
    "oom": Row("out of memory", "advice"),
    "disk": Row("the disk is full", "advice"),
    "load": Row("the model or the data could not be loaded", "new"),
    "crash": Row("the worker crashed", "resume"),
    # the hosted and Tinker workers (HostedError kinds through HostedWorker.explain)
    "internal": Row("the worker crashed", "resume"),  # the hosted worker's name for a crash before the scaffold
    "api": Row("the provider answered with an error", "resume"),
    "network": Row("the provider could not be reached", "resume"),
    "auth": Row("the provider rejected the API key", "advice"),
    "permission": Row("the API key lacks a permission", "advice"),
    "quota": Row("a quota or billing limit was reached", "advice"),
    "model": Row("the model cannot be fine-tuned here", "new"),
    "wind_down": Row("the provider is retiring this model", "advice"),
    "data": Row("the data was refused", "advice"),
    "stopped": Row("the hosted follower was stopped", "resume"),
    # after training: the trained model is kept
    "eval": Row("the evaluation failed (the trained model is kept)", "eval"),
    # what the faces see, with no error event
    "gone": Row("the worker's process is gone without finishing", "resume"),
    "cancelled": Row("cancelled", "resume"),
}
UNKNOWN = Row("the run failed", "resume")


@dataclass(frozen=True)
class Failure:
    kind: str
    title: str
    message: str | None          # the worker's own words, first line
    advice: tuple[str, ...]      # the worker's advice, the next action left out
    next: str                    # the one next action: a command or a sentence with one

    def lines(self) -> list[str]:
        head = self.title + (f": {self.message}" if self.message and self.message != self.title else "")
        return [head, *(f"  - {a}" for a in self.advice), f"next: {self.next}"]


def kind_of(p: Progress, *, gone: bool = False) -> str | None:
    """Which row a run's progress is in; None for a run that is fine (going, or succeeded and evaluated)."""
    if p.state == "failed":
        return p.error_kind or "failed"
    if p.state == "cancelled":
        return "cancelled"
    if p.state == "succeeded":
        return "eval" if p.eval_error else None
    return "gone" if gone else None


def explain(p: Progress, run_path: str, *, gone: bool = False,
            refusal: Callable[[], str | None] = lambda: None) -> Failure | None:
    """The failure a run is in, with its next action; None when it has none. `refusal()`: why the run cannot
    be resumed (the backend's `resume_refusal`), None when it can; asked only for rows that resume."""
    kind = kind_of(p, gone=gone)
    if kind is None:
        return None
    row = FAILURES.get(kind, UNKNOWN)
    if kind == "eval":
        message, advice = p.eval_error, p.eval_advice
    elif kind in ("gone", "cancelled"):
        message, advice = None, ()
    else:
        message, advice = p.error, p.advice
    nxt = None
    if row.next == "eval":
        nxt = f"evaluate it again: `ftwizard eval {run_path}`"
    elif row.next == "new":
        nxt = f"change the recipe, then start a new run: `ftwizard run {run_path}/recipe.toml --set ...`"
    elif row.next == "advice" and advice:
        nxt = advice[0]
    if nxt is None:
        why = refusal()
        nxt = f"continue it: `ftwizard run --resume {run_path}`" if why is None else why
    # what the next action already says is not said twice (a worker's own "--resume" advice, "ftwizard eval")
    said = "ftwizard eval" if row.next == "eval" else "--resume" if "--resume" in nxt else None
    rest = tuple(a for a in advice if a != nxt and not (said and said in a))
    return Failure(kind, row.title, message, rest, nxt)
