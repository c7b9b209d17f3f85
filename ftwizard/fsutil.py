"""Atomic file writes: a reader or a crash never sees half a file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


DISK_FULL_TEXT = ("no space left on device", "os error 28", "disk quota exceeded", "file too large",
                  "file write failed")


def is_disk_full(e: BaseException | None) -> bool:
    """ENOSPC and friends, however a library wraps them (safetensors and torch.save raise their own types)."""
    import errno

    seen = 0
    while e is not None and seen < 5:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return True
        if any(t in str(e).lower() for t in DISK_FULL_TEXT):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder, then rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """A JSON file's value (`default` when it does not exist). A file JSON cannot read - malformed, nested past
    Python's recursion limit, a number of more than 4,300 digits - is a json.JSONDecodeError, the one error
    callers expect (not a RecursionError or a bare ValueError escaping as a crash)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    except ValueError as e:
        if isinstance(e, (json.JSONDecodeError, UnicodeDecodeError)):
            raise
        raise json.JSONDecodeError(str(e).split(";")[0], "", 0) from None


OUTPUT_MARKER = ".ftwizard-output"


def written_by_ftwizard(path: Path) -> bool:
    """Whether a folder is ftwizard's own output, which it may replace: it holds the marker file that every
    folder built by `atomic_dir` gets, or it sits directly inside a run directory (adapter/, merged/, ...)."""
    if not path.is_dir() or path.is_symlink():
        return False
    if (path / OUTPUT_MARKER).is_file():
        return True
    parent = path.parent
    return (parent / "recipe.toml").is_file() and (parent / "status.json").is_file()


def check_replaceable(path: str | os.PathLike) -> None:
    """Refuse (UsageError, exit 2) to replace anything ftwizard did not write: a file, a user's folder."""
    from ftwizard.errors import UsageError

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise UsageError(f"{path} is the current folder (or holds it); ftwizard never replaces it: "
                         "name a new folder, e.g. --out prepared/")
    if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return  # an empty folder holds nothing to lose
    if path.is_dir() and written_by_ftwizard(path):
        return
    what = "a file" if path.is_file() else ("a link" if path.is_symlink() else "a folder ftwizard did not write")
    raise UsageError(f"{path} is {what} (it has no {OUTPUT_MARKER} marker); ftwizard never replaces what it did "
                     "not write: choose a new or empty folder, or remove it yourself")


@contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Build a folder aside and rename it into place only when the block succeeds.

    On failure the aside folder is removed and `path` is left as it was. With `replace`, an existing `path`
    is swapped out only after the new one is complete, and only when ftwizard wrote it (`check_replaceable`):
    the new folder carries the marker file that says so.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not replace:
            raise FileExistsError(path)
        check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        (tmp / OUTPUT_MARKER).write_text("written by ftwizard; it may replace this folder\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)
