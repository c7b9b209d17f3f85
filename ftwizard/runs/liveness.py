"""Which process is a run's worker, and whether one still runs: identities that survive clock drift.

Two mechanisms, one for each question:

- **Is a worker alive?** The worker holds an exclusive `flock` on RUN_DIR/.worker.lock for its whole life; the
  kernel drops it when the process ends (killed, crashed, out of memory), so "the lock is held" is exact, needs
  no pid and cannot be fooled by a reused pid or a clock. The launcher takes the lock *before* it starts the
  worker and hands the locked file to it (`pass_fds`), so there is no moment in which a second `run --resume`
  could start a second worker on a live run.
- **Which pid do I signal?** The pid plus its start time in clock ticks since boot (field 22 of
  /proc/PID/stat), compared exactly. psutil's `create_time()` on Linux is boot time + ticks, and the kernel's
  boot-time figure moves with the wall clock (NTP steps): a tolerance on it gave false "process gone" answers
  (1 s of drift within an hour) and, with 2 s, a second worker on a live run. Where /proc is absent (macOS,
  Windows) psutil's `create_time()` is the kernel's own record of the start (not derived from boot time), and
  is compared exactly too.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator, Sequence

from ftwizard import settings
from ftwizard.errors import UsageError

if TYPE_CHECKING:
    from ftwizard.runs.directory import RunDirectory

WORKER_LOCK = ".worker.lock"
# This process's claims, by run folder: a resume that claims the run and then calls launch claims it once.
_CLAIMS: dict[str, int] = {}


# -- process identity ------------------------------------------------------------------------------------
def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (/proc/PID/stat field 22); None when it is gone or
    there is no /proc."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            raw = f.read()
    except (OSError, ValueError):
        return None
    # Field 2 (the command name) is in parentheses and may itself hold spaces or ')': split after the last ')'.
    rest = raw[raw.rfind(b")") + 2:].split()
    try:
        state, ticks = rest[0], int(rest[19])
    except (IndexError, ValueError):
        return None
    return None if state in (b"Z", b"X") else ticks


def identity(pid: int) -> dict[str, Any]:
    """What status.json records of a process so that it is recognised later, exactly: `pid` and
    `pid_start_ticks` (Linux) or `pid_create_time` (elsewhere, psutil). Empty when the process is gone."""
    ticks = start_ticks(pid)
    if ticks is not None:
        return {"pid": int(pid), "pid_start_ticks": ticks, "pid_create_time": None}
    if Path("/proc/self/stat").exists():
        return {}  # Linux, and the process is already gone
    import psutil

    try:
        return {"pid": int(pid), "pid_start_ticks": None, "pid_create_time": psutil.Process(int(pid)).create_time()}
    except psutil.Error:
        return {}


def same_process(status: dict[str, Any]) -> int | None:
    """The recorded pid when that very process still runs (not a zombie, not a reused pid), else None.
    A record without a start time is never trusted: a pid alone may name any later process."""
    pid = status.get("pid")
    if not pid:
        return None
    if status.get("pid_start_ticks") is not None:
        return int(pid) if start_ticks(int(pid)) == int(status["pid_start_ticks"]) else None
    if status.get("pid_create_time") is not None and not Path("/proc/self/stat").exists():
        import psutil

        try:
            p = psutil.Process(int(pid))
            if p.status() != psutil.STATUS_ZOMBIE and p.create_time() == float(status["pid_create_time"]):
                return int(pid)
        except psutil.Error:
            return None
    return None


# -- the worker lock -------------------------------------------------------------------------------------
class WorkerRunning(UsageError):
    """A worker already holds the run: a second one is refused."""


def _running_message(run: "RunDirectory") -> str:
    pid = run.status().get("pid")
    return (f"{run.path} is still running" + (f" (pid {pid})" if pid else "") + "; a second worker on a live run "
            f"is refused. Follow it with `ftwizard attach {run.path}` or stop it with `ftwizard cancel {run.path}`")


def _open_lock(run: "RunDirectory") -> int:
    return os.open(run.path / WORKER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _lock_or_refuse(run: "RunDirectory") -> int:
    fd = _open_lock(run)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WorkerRunning(_running_message(run)) from None
    return fd


def worker_running(run: "RunDirectory") -> bool:
    """Whether a worker holds the run's lock right now (in any process of this machine)."""
    if not run.path.is_dir():
        return False
    key = str(run.path.resolve())
    if key in _CLAIMS:
        return True  # this process holds it (a launch in progress)
    try:
        fd = _open_lock(run)
    except OSError:
        return False  # a folder we cannot write: no worker of ours writes there either
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@contextmanager
def claim(run: "RunDirectory") -> Iterator[int]:
    """The exclusive right to start the run's worker, as the locked descriptor to hand to it. Raises
    `WorkerRunning` while a worker lives. Nested claims in one process share the first."""
    key = str(run.path.resolve())
    if key in _CLAIMS:
        yield _CLAIMS[key]
        return
    fd = _lock_or_refuse(run)
    _CLAIMS[key] = fd
    try:
        yield fd
    finally:
        _CLAIMS.pop(key, None)
        os.close(fd)  # a started worker keeps its own copy, and with it the lock


def spawn(run: "RunDirectory", cmd: Sequence[str], *, log: IO[bytes], env: dict[str, str] | None = None
          ) -> subprocess.Popen:
    """Start a run's worker in its own session (it outlives the terminal), holding the run's lock from its first
    instruction, and record exactly which process it is. Raises `WorkerRunning` when one already runs."""
    with claim(run) as fd:
        env = dict(os.environ if env is None else env)
        env[settings.WORKER_LOCK_FD_ENV] = str(fd)
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, pass_fds=(fd,), env=env)
        run.update_status(pgid=proc.pid, **(identity(proc.pid) or {"pid": proc.pid}))
    return proc


@contextmanager
def hold(run: "RunDirectory") -> Iterator[None]:
    """What a worker does first: keep the lock its launcher handed it, or take it (a worker started by hand).
    Raises `WorkerRunning` when another worker has it. Under torchrun the launcher process holds it for the
    ranks. The lock is let go when the block ends (for in-process callers) or the process dies."""
    fd_text = settings.take_worker_lock_fd()
    if settings.under_torchrun():
        yield
        return
    fd = _inherited(run, fd_text)
    if fd is None:
        fd = _lock_or_refuse(run)
    else:
        os.set_inheritable(fd, False)  # the worker's own children (evaluation engines) do not carry it
    run.reserve_space()  # a run made before the reserve existed, or one whose last worker used it up
    key = str(run.path.resolve())
    _CLAIMS[key] = fd
    try:
        yield
    finally:
        _CLAIMS.pop(key, None)
        os.close(fd)


def _inherited(run: "RunDirectory", fd_text: str) -> int | None:
    """The descriptor named by the launcher when it is this run's lock file and locked by us; else None."""
    if not fd_text.isdigit():
        return None
    fd = int(fd_text)
    try:
        st, want = os.fstat(fd), os.stat(run.path / WORKER_LOCK)
    except OSError:
        return None
    if (st.st_dev, st.st_ino) != (want.st_dev, want.st_ino):
        return None
    try:  # flock on the description that already holds the lock succeeds; on another one it would block
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None
    return fd
