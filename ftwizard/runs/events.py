"""A run's events as values, and the one fold of them into the progress every face shows.

Workers write events.jsonl as JSON objects through `RunDirectory.append_event` (each with `t`, unix seconds, and
`type`); the shape on disk is the contract in docs/ARCHITECTURE.md. Here each line becomes one frozen event of its
kind (`Log`, `Metric`, `Status`, `Eval`, `Cost`, `Error`), fields it does not name kept in `extra`, so
`event.as_dict()` is the object that was written. A line that is not such an object, or of a type no worker
writes, is no event (`parse` returns None; `Tail` counts it in `skipped`): the events around it still count.

`fold(progress, event)` is the only place events become figures: step and total, epoch, loss, eval loss,
tokens/s, the ETA, dollars so far, state, phase, the last error. `ftwizard run`'s follower and the wizard's Train
step (`ftwizard attach`) both render a `Progress` and `line(event)`; neither reads an event's fields itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable, Mapping, Union

from ftwizard.fmt import duration, usd
from ftwizard.runs.directory import EVENT_TYPES, FINAL_STATES, EventTail, RunDirectory

MAX_POINTS = 400  # loss points kept per series for the plot (older ones are thinned)


# -- reading fields of untrusted JSON ------------------------------------------------------------------------------

def _num(v: Any) -> float | None:
    """A JSON number as a float (NaN and inf kept: a diverged loss is news); None for anything else."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _int(v: Any) -> int | None:
    f = _num(v)
    return int(f) if f is not None and math.isfinite(f) else None


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


# -- the events ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Event:
    t: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the object as written

    type = ""  # each kind's name on disk

    def as_dict(self) -> dict[str, Any]:
        """The JSON object this event was read from, unchanged (the contract on disk is the writers')."""
        return dict(self.raw)

    @property
    def extra(self) -> dict[str, Any]:
        """The fields this kind does not name (e.g. a metric's `mfu`, an error's `failed_phase`)."""
        named = {f.name for f in fields(self)} | {"type"}
        return {k: v for k, v in self.raw.items() if k not in named}


def _build(cls, d: Mapping[str, Any], **typed: Any):
    return cls(t=_num(d.get("t")), raw=dict(d), **typed)


@dataclass(frozen=True)
class Log(_Event):
    text: str = ""
    level: str = "info"          # info | warning | error
    source: str | None = None
    type = "log"

    @classmethod
    def read(cls, d: Mapping[str, Any]) -> "Log":
        level = d.get("level") if d.get("level") in ("info", "warning", "error") else "info"
        return _build(cls, d, text=str(d.get("text", "")), level=level, source=_str(d.get("source")))


@dataclass(frozen=True)
class Metric(_Event):
    step: int | None = None
    max_steps: int | None = None
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    epoch: float | None = None
    tokens_per_s: float | None = None
    gpu_mem_gb: float | None = None
    eta_s: float | None = None            # seconds left, as the writer saw it at `t`
    estimated_finish: float | None = None  # unix seconds (a hosted provider's own figure)
    elapsed_s: float | None = None
    cost_usd: float | None = None
    type = "metric"
    _NUMS = ("loss", "eval_loss", "lr", "epoch", "tokens_per_s", "gpu_mem_gb", "eta_s", "estimated_finish",
             "elapsed_s", "cost_usd")

    @classmethod
    def read(cls, d: Mapping[str, Any]) -> "Metric":
        return _build(cls, d, step=_int(d.get("step")), max_steps=_int(d.get("max_steps")),
                      **{k: _num(d.get(k)) for k in cls._NUMS})


@dataclass(frozen=True)
class Status(_Event):
    state: str | None = None
    detail: str | None = None
    type = "status"

    @classmethod
    def read(cls, d: Mapping[str, Any]) -> "Status":
        return _build(cls, d, state=_str(d.get("state")) or None, detail=_str(d.get("detail")) or None)


@dataclass(frozen=True)
class Eval(_Event):
    phase: str | None = None     # start | progress | done
    which: str = "finetuned"     # finetuned | baseline | local
    done: int = 0
    total: int = 0
    type = "eval"

    @property
    def values(self) -> dict[str, Any]:
        """The metric values a `done` event carries."""
        return self.extra

    @classmethod
    def read(cls, d: Mapping[str, Any]) -> "Eval":
        return _build(cls, d, phase=_str(d.get("phase")), which=str(d.get("which") or "finetuned"),
                      done=_int(d.get("done")) or 0, total=_int(d.get("total")) or 0)


@dataclass(frozen=True)
class Cost(_Event):
    usd: float | None = None
    kind: str | None = None      # estimated | actual | so_far
    what: str = "training"       # training | evaluation
    detail: str | None = None
    type = "cost"

    @classmethod
    def read(cls, d: Mapping[str, Any]) -> "Cost":
        return _build(cls, d, usd=_num(d.get("usd")), kind=_str(d.get("kind")),
                      what=str(d.get("what") or "training"), detail=_str(d.get("detail")) or None)


@dataclass(frozen=True)
class Error(_Event):
    message: str = "error"
    kind: str | None = None      # the failure's kind: the rows of `ftwizard.runs.failures.FAILURES`
    advice: tuple[str, ...] = ()
    type = "error"

    @classmethod
    def read(cls, d: Mapping[str, Any]) -> "Error":
        advice = d.get("advice")
        advice = tuple(str(a) for a in advice) if isinstance(advice, list) else ()
        return _build(cls, d, message=str(d.get("message") or "error"), kind=_str(d.get("kind")) or None,
                      advice=advice)


Event = Union[Log, Metric, Status, Eval, Cost, Error]
KINDS: dict[str, type] = {c.type: c for c in (Log, Metric, Status, Eval, Cost, Error)}
assert tuple(KINDS) == EVENT_TYPES


def from_dict(d: Any) -> Event | None:
    """One event object as its typed event; None for what is not one (not an object, a type no worker writes)."""
    if not isinstance(d, dict):
        return None
    cls = KINDS.get(d.get("type"))  # type: ignore[arg-type]
    return None if cls is None else cls.read(d)


def parse(line: bytes | str) -> Event | None:
    """One line of events.jsonl; None for a line damaged on disk (not UTF-8, not JSON, not an event)."""
    try:
        return from_dict(json.loads(line))
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, too deep, too many digits
        return None


def typed(objects: Iterable[Any]) -> list[Event]:
    return [e for e in map(from_dict, objects) if e is not None]


def read(run: RunDirectory) -> list[Event]:
    """Every event of a run, in order (damaged and unknown lines left out)."""
    return typed(run.iter_events())


class Tail:
    """A run's new events since the last `poll()`, typed; `skipped` counts lines that were no event."""

    def __init__(self, run: RunDirectory, offset: int = 0):
        self._tail = EventTail(run, offset)
        self.skipped = 0

    @property
    def offset(self) -> int:
        return self._tail.offset

    @offset.setter
    def offset(self, value: int) -> None:
        self._tail.offset = value

    def poll(self) -> list[Event]:
        objs = self._tail.poll()
        events = typed(objs)
        self.skipped += self._tail.skipped + len(objs) - len(events)
        self._tail.skipped = 0
        return events


# -- the one fold --------------------------------------------------------------------------------------------------

def _thin(points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    """Halve a long series, keeping the first and last point: bounded memory, the curve's shape intact."""
    if len(points) <= MAX_POINTS:
        return points
    return points[:-1:2] + (points[-1],)


@dataclass(frozen=True)
class Progress:
    """What a run looks like after its events (and status.json) so far. Immutable: `fold` returns a new one."""

    state: str = "pending"
    backend: str | None = None
    step: int = 0
    max_steps: int = 0
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    gpu_mem_gb: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None       # as last reported, at `eta_t`
    eta_t: float | None = None       # when it was reported (None: an event without a time)
    cost_usd: float | None = None    # training dollars so far (the final bill once there is one)
    job_status: str | None = None    # a hosted job's own status
    eval_which: str | None = None
    eval_phase: str | None = None
    eval_done: int = 0
    eval_total: int = 0
    error: str | None = None         # the run's failure, first line
    error_kind: str | None = None
    advice: tuple[str, ...] = ()
    eval_error: str | None = None    # evaluation failed after training (the run itself succeeded)
    eval_advice: tuple[str, ...] = ()
    train_points: tuple[tuple[float, float], ...] = ()
    eval_points: tuple[tuple[float, float], ...] = ()
    last_event_t: float | None = None
    n_events: int = 0

    # -- derived ----------------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def phase(self) -> str:
        """pending | starting | queued | training | evaluating | succeeded | failed | cancelled."""
        if self.finished:
            return self.state
        if self.eval_phase in ("start", "progress"):
            return "evaluating"
        if self.step or self.train_points or self.eval_points:
            return "training"
        if self.state == "pending":
            return "pending"
        if self.job_status in ("validating_files", "queued", "pending"):
            return "queued"
        return "starting"

    @property
    def fraction(self) -> float:
        if self.state == "succeeded":
            return 1.0
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0

    def eta(self, now: float) -> float | None:
        """Seconds of training left at `now`: the last reported ETA counted down since it was reported (a view
        rebuilt from old events does not show an old figure as new). None outside training."""
        if self.eta_s is None or self.phase != "training":
            return None
        gone = 0.0 if self.eta_t is None else max(0.0, now - self.eta_t)
        return max(0.0, self.eta_s - gone)

    def figures(self, now: float) -> dict[str, str]:
        """Every figure as it is shown, keyed by what it is; each face picks and orders keys, never formats."""
        out: dict[str, str] = {}
        state = self.phase
        if (self.job_status and self.backend == "hosted" and not self.finished
                and self.job_status not in (state, "running")):  # a provider's own word for where the job is
            state += f" ({self.job_status})"
        out["state"] = state
        if self.max_steps:
            out["step"] = f"step {self.step}/{self.max_steps}"
        if self.epoch is not None:
            out["epoch"] = f"epoch {self.epoch:.2f}"
        if self.loss is not None:
            out["loss"] = f"loss {self.loss:.3f}"
        if self.eval_loss is not None:
            out["eval_loss"] = f"eval {self.eval_loss:.3f}"
        if self.tokens_per_s:
            out["tokens_per_s"] = f"{self.tokens_per_s:,.0f} tok/s"
        eta = self.eta(now)
        if eta is not None:
            out["eta"] = f"ETA {duration(eta)}"
        if self.cost_usd is not None:
            out["cost"] = usd(self.cost_usd) + ("" if self.finished else " so far")
        if self.gpu_mem_gb is not None:
            out["mem"] = f"mem {self.gpu_mem_gb:.1f} GiB"
        if self.phase == "evaluating":
            out["eval"] = f"eval {self.eval_done}/{self.eval_total}"
        return out

    def summary(self, now: float) -> str:
        """One line: state, step, losses, speed, ETA, dollars so far, memory, evaluation."""
        return " | ".join(self.figures(now).values())


def fold(p: Progress, ev: Event) -> Progress:
    """`p` after one more event."""
    ch: dict[str, Any] = {"n_events": p.n_events + 1}
    if ev.t is not None:
        ch["last_event_t"] = ev.t
    if isinstance(ev, Metric):
        if ev.step is not None:
            ch["step"] = ev.step
        step = float(ev.step if ev.step is not None else p.step)
        for k in ("max_steps", "epoch", "lr", "tokens_per_s", "gpu_mem_gb", "elapsed_s", "cost_usd"):
            if getattr(ev, k) is not None:
                ch[k] = getattr(ev, k)
        if ev.estimated_finish is not None and ev.t is not None:
            ch["eta_s"], ch["eta_t"] = max(0.0, ev.estimated_finish - ev.t), ev.t
        elif ev.eta_s is not None:
            ch["eta_s"], ch["eta_t"] = ev.eta_s, ev.t
        if ev.loss is not None:
            ch["loss"] = ev.loss
            ch["train_points"] = _thin(p.train_points + ((step, ev.loss),))
        if ev.eval_loss is not None:
            ch["eval_loss"] = ev.eval_loss
            ch["eval_points"] = _thin(p.eval_points + ((step, ev.eval_loss),))
    elif isinstance(ev, Status):
        if ev.state:
            ch["state"] = ev.state
    elif isinstance(ev, Eval):
        ch.update(eval_which=ev.which, eval_phase=ev.phase, eval_done=ev.done, eval_total=ev.total)
        if ev.phase == "start":  # a new attempt at evaluating: an earlier one's failure no longer stands
            ch.update(eval_error=None, eval_advice=())
    elif isinstance(ev, Cost):
        if ev.kind in ("actual", "so_far") and ev.what == "training" and ev.usd is not None:
            ch["cost_usd"] = ev.usd
    elif isinstance(ev, Error):
        first = ev.message.splitlines()[0] if ev.message else "error"
        if ev.kind == "eval":
            ch.update(eval_error=first, eval_advice=ev.advice)
        else:
            ch.update(error=first, error_kind=ev.kind, advice=ev.advice)
    return replace(p, **ch)


def fold_status(p: Progress, status: Mapping[str, Any]) -> Progress:
    """status.json is the authority on state (a worker killed hard writes no status event) and says what the
    events may not: the total of steps, a hosted job's status and finish time, the recorded failure."""
    ch: dict[str, Any] = {}
    if status.get("state"):
        ch["state"] = status["state"]
    if status.get("backend"):
        ch["backend"] = status["backend"]
    total = _int(status.get("total_steps"))
    if total and not p.max_steps:
        ch["max_steps"] = total
    step = _int(status.get("step"))
    if step is not None and step > p.step:
        ch["step"] = step
    if status.get("job_status"):
        ch["job_status"] = str(status["job_status"])
    finish, updated = _num(status.get("estimated_finish")), _num(status.get("updated_at"))
    if finish is not None and updated is not None and p.eta_s is None:
        ch["eta_s"], ch["eta_t"] = max(0.0, finish - updated), updated
    if status.get("error") and not p.error:
        ch["error"] = str(status["error"])
    if status.get("error_kind") and not p.error_kind:
        ch["error_kind"] = str(status["error_kind"])
    if "eval_error" in status:
        ch["eval_error"] = _str(status["eval_error"])
        if status["eval_error"] is None:
            ch["eval_advice"] = ()
    return replace(p, **ch) if ch else p


def fold_all(events: Iterable[Event], status: Mapping[str, Any] | None = None, p: Progress | None = None) -> Progress:
    p = p or Progress()
    for ev in events:
        p = fold(p, ev)
    return fold_status(p, status) if status is not None else p


# -- what an event says, as a line ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    """One event as a line of the log both faces show; `level` (info|warning|error|status|result) is how a face
    styles it."""

    level: str
    text: str
    more: tuple[str, ...] = ()  # lines under it (an error's advice)


def line(ev: Event) -> Line | None:
    if isinstance(ev, Log):
        return Line(ev.level, ev.text)
    if isinstance(ev, Metric):
        return Line("info", f"step {ev.step}: eval loss {ev.eval_loss:.4f}") if ev.eval_loss is not None else None
    if isinstance(ev, Status):
        return Line("status", (ev.state or "?") + (f" ({ev.detail})" if ev.detail else ""))
    if isinstance(ev, Eval):
        if ev.phase == "start":
            return Line("info", f"evaluating {ev.total} examples ({ev.which})")
        if ev.phase == "done":
            shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in ev.values.items())
            return Line("result", f"eval {ev.which}: {shown}")
        return None
    if isinstance(ev, Cost):
        if ev.usd is None:
            return None
        return Line("info", f"cost ({ev.kind or '?'}, {ev.what}): {usd(ev.usd)}" + (f" - {ev.detail}" if ev.detail else ""))
    if isinstance(ev, Error):
        return Line("error", ev.message, tuple(ev.advice))
    return None


class Watch:
    """A run directory followed: each `poll()` folds the new events (and status.json when it changed) into
    `progress` and returns them."""

    def __init__(self, run: RunDirectory, *, from_start: bool = True):
        self.run = run
        self.tail = Tail(run)
        if not from_start:
            try:
                self.tail.offset = run.events_path.stat().st_size
            except FileNotFoundError:
                pass
        self.progress = Progress()
        self._status_mtime: float | None = None

    def poll(self) -> list[Event]:
        new = self.tail.poll()
        for ev in new:
            self.progress = fold(self.progress, ev)
        self.refresh_status()
        return new

    def refresh_status(self, force: bool = False) -> dict[str, Any] | None:
        try:
            mtime = self.run.status_path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = 0
        if mtime == self._status_mtime and not force:
            return None
        self._status_mtime = mtime
        status = self.run.status()
        self.progress = fold_status(self.progress, status)
        return status


__all__ = ["EVENT_TYPES", "Event", "Log", "Metric", "Status", "Eval", "Cost", "Error", "from_dict", "parse", "read",
           "typed", "Tail", "Progress", "fold", "fold_status", "fold_all", "Line", "line", "Watch"]
