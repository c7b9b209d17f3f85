"""The run directory: the one place a run's state lives, so any process can resume or follow it.

runs/<name>-<UTC timestamp>/
  recipe.toml       the fully resolved recipe
  status.json       state, pid or hosted job id, timestamps (replaced atomically)
  events.jsonl      append-only; one JSON object per line with `t` (unix seconds) and `type`
  data/             rendered training and eval files
  adapter/, checkpoints/   local runs
  predictions.jsonl, metrics.json, cost.json   after evaluation
Nothing in it holds a secret.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from ftwizard.errors import UsageError
from ftwizard.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text, is_disk_full, read_json

STATES = ("pending", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = ("succeeded", "failed", "cancelled")
EVENT_TYPES = ("log", "metric", "status", "eval", "cost", "error")
STATUS_LOCK = ".status.lock"
SPACE_RESERVE = ".space.reserve"
SPACE_RESERVE_BYTES = 256 * 1024  # status.json is a few KB; the failure's events a few hundred bytes
# Re-entrancy of status_lock per run folder and thread (flock is per open file description, so a
# nested open+flock in the same process would deadlock).
_LOCK_DEPTH: dict[tuple[str, int], int] = {}


def utc_stamp(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, tz=timezone.utc).isoformat(timespec="seconds")


class StatusDamaged(UsageError):
    """status.json exists but cannot be read: the run's state is unknown, so nothing may act on a guess."""

    def __init__(self, run: "RunDirectory", why: str):
        job = next((e.get("job_id") for e in reversed(run.events(("status",))) if e.get("job_id")), None)
        super().__init__(
            f"{run.status_path}: the run's status file is damaged ({why}); ftwizard will not guess the run's "
            "state from it (a guess could start a second, billed job)."
            + (f" Its events.jsonl names job {job}: follow or cancel that job at the provider." if job else "")
            + " Restore the file from a backup to continue this run, or start a new one: "
            f"`ftwizard run {run.recipe_path}`")


class RunDirectory:
    """A run's folder. Cheap to construct; every method reads or writes the files directly."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: str | os.PathLike, name: str, recipe_toml: str) -> "RunDirectory":
        runs_dir = Path(runs_dir)
        blocker = next((p for p in (runs_dir, *runs_dir.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise UsageError(f"runs folder {runs_dir}: {blocker} is a file, not a folder; "
                             "pass --runs-dir a folder (it is created if missing)")
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise UsageError(f"runs folder {runs_dir}: not allowed to create it here; pass --runs-dir a folder "
                             "you can write") from None
        stamp = utc_stamp()
        path = runs_dir / f"{name}-{stamp}"
        n = 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = runs_dir / f"{name}-{stamp}-{n}"
        run = cls(path)
        atomic_write_text(run.recipe_path, recipe_toml)
        now = time.time()
        run.write_status({"state": "pending", "created_at": now, "created": iso(now)})
        run.events_path.touch()
        run.reserve_space()
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDirectory":
        """An existing run directory; a clear usage error when it is not one."""
        run = cls(path)
        if not run.path.is_dir():
            raise UsageError(f"run directory not found: {run.path}")
        if not run.recipe_path.exists():
            raise UsageError(f"{run.path} is not a run directory (it has no recipe.toml)")
        return run

    # -- paths ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.path.name

    @property
    def recipe_path(self) -> Path:
        return self.path / "recipe.toml"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.jsonl"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def cost_path(self) -> Path:
        return self.path / "cost.json"

    # -- recipe -----------------------------------------------------------------------------
    def recipe(self):
        from ftwizard.recipe import load_recipe

        return load_recipe(self.recipe_path)

    # -- status -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """status.json as a dict ({} before it exists). A damaged file is a `StatusDamaged` error naming it, never
        read as empty: an empty status looks like a run that never started, and resuming that would upload and
        create (and bill) a second job."""
        try:
            raw = self.status_path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise StatusDamaged(self, f"not UTF-8 at byte {e.start}") from None
        except json.JSONDecodeError as e:
            raise StatusDamaged(self, f"not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        except RecursionError:
            raise StatusDamaged(self, "not JSON: nested too deeply") from None
        except ValueError as e:  # a number of more than 4,300 digits
            raise StatusDamaged(self, f"not JSON: {str(e).split(';')[0]}") from None
        if not isinstance(value, dict):
            raise StatusDamaged(self, f"a JSON {type(value).__name__}, not an object")
        return value

    def write_status(self, status: dict[str, Any]) -> None:
        self._with_reserve(lambda: atomic_write_json(self.status_path, status))

    # -- a full disk ----------------------------------------------------------------------------
    def reserve_space(self) -> None:
        """Set aside SPACE_RESERVE bytes in the run folder (a file of zeros), given back when the disk fills
        so that the failure can still be recorded: a worker that died writing "failed" left its run `running`."""
        path = self.path / SPACE_RESERVE
        try:
            if not path.exists() or path.stat().st_size < SPACE_RESERVE_BYTES:
                atomic_write_bytes(path, b"\0" * SPACE_RESERVE_BYTES)
        except OSError as e:
            if not is_disk_full(e):
                raise  # already full: nothing to set aside, and the run goes on as it can

    def _with_reserve(self, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as e:
            reserve = self.path / SPACE_RESERVE
            if not is_disk_full(e) or not reserve.exists():
                raise
            reserve.unlink()
            write()

    @contextmanager
    def status_lock(self) -> Iterator[None]:
        """The one lock every writer of status.json takes (launcher, worker, cancel, evaluator, hosted job):
        a read-modify-write under it never loses another process's fields (e.g. a cancel during upload).
        Re-entrant within a process, so a caller may hold it around a check-then-update."""
        key = (str(self.path.resolve()), threading.get_ident())
        depth = _LOCK_DEPTH.get(key, 0)
        if depth:
            _LOCK_DEPTH[key] = depth + 1
            try:
                yield
            finally:
                _LOCK_DEPTH[key] -= 1
            return
        fd = os.open(self.path / STATUS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _LOCK_DEPTH[key] = 1
            try:
                yield
            finally:
                _LOCK_DEPTH.pop(key, None)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def update_status(self, **fields: Any) -> dict[str, Any]:
        """Merge fields into status.json (atomically, under `status_lock`) and return the new status."""
        with self.status_lock():
            return self._update_status_unlocked(fields)

    def _update_status_unlocked(self, fields: dict[str, Any]) -> dict[str, Any]:
        status = self.status()
        state = fields.get("state")
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        now = time.time()
        if state == "running" and "started_at" not in status:
            fields.setdefault("started_at", now)
        if state in FINAL_STATES:
            fields.setdefault("finished_at", now)
        status.update(fields)
        status["updated_at"] = now
        self.write_status(status)
        return status

    def _update_json(self, path: Path, change: "Callable[[dict], dict | None] | None", fields: dict) -> dict:
        # Under the run's one lock: the evaluator, a worker and a hosted job write cost.json and metrics.json from
        # different processes; a read-modify-write outside it loses the other's fields.
        with self.status_lock():
            try:
                current = read_json(path, default={}) or {}
            except json.JSONDecodeError:
                current = {}
            if change is not None:
                replaced = change(current)
                if isinstance(replaced, dict):  # a replacement; anything else: `current` was changed in place
                    current = replaced
            current.update(fields)
            atomic_write_json(path, current)
            return current

    def update_cost(self, change: "Callable[[dict], dict | None] | None" = None, **fields: Any) -> dict[str, Any]:
        """cost.json's one writer: `change(current)` (mutate it, or return a replacement), then merge `fields`,
        atomically under `status_lock`; returns what was written."""
        return self._update_json(self.cost_path, change, fields)

    def update_metrics(self, change: "Callable[[dict], dict | None] | None" = None, **fields: Any) -> dict[str, Any]:
        """metrics.json's one writer, as `update_cost`."""
        return self._update_json(self.metrics_path, change, fields)

    @property
    def state(self) -> str:
        return self.status().get("state", "pending")

    # -- events ---------------------------------------------------------------------------------
    def append_event(self, type: str, **fields: Any) -> dict[str, Any]:
        """Append one event line. One `write` of a whole line on an O_APPEND file: no torn lines."""
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        event = {"t": round(fields.pop("t", time.time()), 3), "type": type, **fields}
        line = (json.dumps(event, ensure_ascii=False, default=str) + "\n").encode("utf-8")

        def write() -> None:
            fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

        self._with_reserve(write)
        return event

    def log(self, text: str, **fields: Any) -> None:
        self.append_event("log", text=text, **fields)

    def events(self, types: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        return list(self.iter_events(types))

    def iter_events(self, types: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
        try:
            f = open(self.events_path, "rb")
        except FileNotFoundError:
            return
        with f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # a line still being written
                ev = _event(line)
                if ev is not None and (types is None or ev.get("type") in types):
                    yield ev


def _event(line: bytes) -> dict[str, Any] | None:
    """One line of events.jsonl as an event; None for a line damaged on disk (not UTF-8, not a JSON object):
    the events around it still count."""
    try:
        ev = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, too deep, too many digits
        return None
    return ev if isinstance(ev, dict) else None


class EventTail:
    """Follows events.jsonl from a byte offset: each `poll()` returns the whole lines added since."""

    def __init__(self, run: RunDirectory, offset: int = 0):
        self.run = run
        self.offset = offset
        self.skipped = 0  # lines damaged on disk, left out

    def poll(self) -> list[dict[str, Any]]:
        try:
            with open(self.run.events_path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        lines = chunk[: end + 1].splitlines()
        events = [ev for line in lines if (ev := _event(line)) is not None]
        self.skipped += len(lines) - len(events)
        return events


def default_runs_dir(runs_dir: str | os.PathLike | None = "runs") -> Path:
    """Where runs go: an explicit folder, else $FTWIZARD_RUNS_DIR, else `runs` (the default name yields to the env)."""
    from ftwizard import settings

    if runs_dir in (None, "runs") and settings.runs_dir() is not None:
        return settings.runs_dir()
    return Path(runs_dir or "runs")


def find_runs(runs_dir: str | os.PathLike) -> list[RunDirectory]:
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return sorted((RunDirectory(p) for p in runs_dir.iterdir() if (p / "recipe.toml").exists()),
                  key=lambda r: r.path.name)
