"""Where the local run's checkpoints are and which are complete (light: the launcher and the worker share it).

The worker writes each checkpoint into checkpoints/.staging/ and renames it into place when complete, so a
folder `checkpoint-N` with a trainer_state.json is whole; anything else is never resumed from.
"""

from __future__ import annotations

import re
from pathlib import Path

CKPT_RE = re.compile(r"^checkpoint-(\d+)$")
STAGING = ".staging"


def complete_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """Checkpoints that were renamed into place (so complete), oldest first."""
    out = []
    if not ckpt_dir.is_dir():
        return out
    for p in ckpt_dir.iterdir():
        m = CKPT_RE.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").exists():
            out.append((int(m.group(1)), p))
    return sorted(out)


def last_checkpoint(ckpt_dir: Path) -> tuple[int, Path] | None:
    cks = complete_checkpoints(ckpt_dir)
    return cks[-1] if cks else None
