"""What a run looks like right now, folded from its run directory's events (no Textual, no torch).

The train view and `ftwizard attach` both build this from `events.jsonl` + `status.json`, so a view rebuilt
after the terminal closed shows exactly what a view that never closed shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftwizard.fmt import usd as fmt_usd
from ftwizard.runs.directory import FINAL_STATES, EventTail, RunDirectory

MAX_POINTS = 400  # loss points kept for the plot per series (older ones are thinned)


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Halve a long series, keeping the first and last point: bounded memory, the curve's shape intact."""
    if len(points) <= MAX_POINTS:
        return points
    return points[:-1:2] + [points[-1]]


@dataclass
class RunProgress:
    name: str
    backend: str = "local"
    state: str = "pending"
    step: int = 0
    max_steps: int = 0
    loss: float | None = None
    eval_loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    gpu_mem_gb: float | None = None
    eta_s: float | None = None
    elapsed_s: float | None = None
    cost_usd: float | None = None
    job_status: str | None = None
    eval_phase: str | None = None
    eval_done: int = 0
    eval_total: int = 0
    error: str | None = None
    advice: list[str] = field(default_factory=list)
    train_points: list[tuple[float, float]] = field(default_factory=list)
    eval_points: list[tuple[float, float]] = field(default_factory=list)
    last_event_t: float | None = None
    n_events: int = 0

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def fraction(self) -> float:
        if self.state == "succeeded":
            return 1.0
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0

    def apply(self, ev: dict[str, Any]) -> str | None:
        """Fold one event in; returns a log line to show for it, if any."""
        self.n_events += 1
        t = ev.get("t")
        if isinstance(t, (int, float)):
            self.last_event_t = t
        kind = ev.get("type")
        if kind == "metric":
            step = ev.get("step")
            if isinstance(step, (int, float)):
                self.step = int(step)
            for key in ("max_steps", "lr", "tokens_per_s", "gpu_mem_gb", "eta_s", "elapsed_s", "cost_usd"):
                if ev.get(key) is not None:
                    setattr(self, key, ev[key])
            if ev.get("loss") is not None:
                self.loss = float(ev["loss"])
                self.train_points.append((float(self.step), self.loss))
                self.train_points = _thin(self.train_points)
            if ev.get("eval_loss") is not None:
                self.eval_loss = float(ev["eval_loss"])
                self.eval_points.append((float(self.step), self.eval_loss))
                self.eval_points = _thin(self.eval_points)
            return None
        if kind == "log":
            level = ev.get("level")
            text = str(ev.get("text", ""))
            return f"{level.upper()}: {text}" if level in ("warning", "error") else text
        if kind == "status":
            if ev.get("state"):
                self.state = ev["state"]
            if ev.get("detail"):
                self.job_status = ev["detail"]
            return f"-- {self.state}" + (f" ({ev['detail']})" if ev.get("detail") else "")
        if kind == "eval":
            self.eval_phase = ev.get("phase")
            self.eval_done = int(ev.get("done") or 0)
            self.eval_total = int(ev.get("total") or 0)
            if ev.get("phase") == "done":
                vals = {k: v for k, v in ev.items() if k not in ("t", "type", "phase", "done", "total", "which")}
                shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in vals.items())
                return f"evaluation ({ev.get('which', 'finetuned')}) done: {shown}"
            if ev.get("phase") == "start":
                return f"evaluating {self.eval_total} examples ({ev.get('which', 'finetuned')})"
            return None
        if kind == "cost":
            usd = ev.get("usd")
            if ev.get("kind") in ("actual", "so_far") and ev.get("what", "training") == "training" and usd is not None:
                self.cost_usd = float(usd)
            return f"cost ({ev.get('kind', '?')}, {ev.get('what', 'training')}): {fmt_usd(float(usd))}" if usd is not None else None
        if kind == "error":
            self.error = str(ev.get("message", "error"))
            self.advice = [str(a) for a in ev.get("advice") or []]
            return "ERROR: " + self.error + "".join(f"\n  - {a}" for a in self.advice)
        return None

    def apply_status(self, status: dict[str, Any]) -> None:
        """status.json is the authority on state (a worker killed hard writes no status event)."""
        if status.get("state"):
            self.state = status["state"]
        self.backend = status.get("backend", self.backend)
        if status.get("total_steps") and not self.max_steps:
            self.max_steps = int(status["total_steps"])
        if status.get("job_status"):
            self.job_status = status["job_status"]
        if status.get("error") and not self.error:
            self.error = str(status["error"])

    def summary(self) -> str:
        """One line: state, step, ETA, dollars so far, GPU memory."""
        parts = [self.state]
        if self.job_status and self.backend == "hosted":
            parts[0] += f" ({self.job_status})"
        if self.max_steps:
            parts.append(f"step {self.step}/{self.max_steps}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3f}")
        if self.eval_loss is not None:
            parts.append(f"eval {self.eval_loss:.3f}")
        if self.eta_s is not None and not self.finished:
            parts.append(f"ETA {format_duration(self.eta_s)}")
        if self.cost_usd is not None:
            parts.append(fmt_usd(self.cost_usd) + ("" if self.finished else " so far"))
        if self.gpu_mem_gb is not None:
            parts.append(f"mem {self.gpu_mem_gb:.1f} GiB")
        if self.eval_phase in ("start", "progress") and not self.finished:
            parts.append(f"eval {self.eval_done}/{self.eval_total}")
        return " | ".join(parts)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


class RunFollower:
    """Follows one run directory: each `poll()` returns the new log lines and updates `progress`."""

    def __init__(self, run: RunDirectory):
        self.run = run
        self.tail = EventTail(run)
        self.progress = RunProgress(name=run.name)
        self.progress.apply_status(run.status())
        self._status_mtime = 0.0

    def poll(self) -> list[str]:
        lines = []
        for ev in self.tail.poll():
            line = self.progress.apply(ev)
            if line is not None:
                lines.extend(line.splitlines() or [""])
        try:
            mtime = self.run.status_path.stat().st_mtime
        except FileNotFoundError:
            mtime = 0.0
        if mtime != self._status_mtime:
            self._status_mtime = mtime
            self.progress.apply_status(self.run.status())
        return lines
