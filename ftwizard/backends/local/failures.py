"""How a local run fails: a full disk recognised however a library wraps it, and the error event + status that
every failure (crash, disk, out of memory, bad input) ends in, with the advice that gets the run going again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ftwizard.backends.local.checkpoints import last_checkpoint
from ftwizard.fsutil import is_disk_full  # noqa: F401 - where the local worker has always found it

if TYPE_CHECKING:
    from ftwizard.backends.local.reporter import Reporter

def disk_advice(path: Path) -> list[str]:
    try:
        free = shutil.disk_usage(path).free / 1e9
        where = f"{free:.1f} GB free on the disk of {path}"
    except OSError:
        where = f"the disk of {path}"
    return [f"free space ({where}), then continue with `ftwizard run --resume {path.parent}`",
            "lower train.save_total_limit to keep fewer checkpoints"]


def report_failure(rep: "Reporter", checkpoints_dir: Path, message: str, *, kind: str,
                   advice: list[str] | None = None, **fields) -> None:
    """The error event, the last good checkpoint named, status `failed`: the end of every failed attempt. Only
    commands that work in that state are offered: `run --resume` needs a complete checkpoint (the resume rule,
    `LocalBackend.ended_refusal`); without one the way on is a new run of the recorded recipe."""
    run_dir = checkpoints_dir.parent
    advice = [a.replace("RUN_DIR", str(run_dir)) for a in (advice or [])]
    if last_checkpoint(checkpoints_dir) is None and any("--resume" in a for a in advice):
        advice = [a for a in advice if "--resume" not in a] + [
            f"there is no complete checkpoint to continue from yet: start again with "
            f"`ftwizard run {run_dir / 'recipe.toml'}`"]
    first = message.splitlines()[0] if message else kind
    rep.event("error", message=message, kind=kind, advice=advice or [], **fields)
    last = last_checkpoint(checkpoints_dir)
    if last:
        rep.log(f"last good checkpoint kept: {last[1].name} (step {last[0]})")
    extra = {"error_kind": kind} if kind == "oom" else {}
    rep.status(state="failed", error=first, train_elapsed_s=round(rep.elapsed(), 3), **extra)
    rep.event("status", state="failed", detail=first)
