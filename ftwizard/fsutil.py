"""Atomic file writes (a reader or a crash never sees half a file), and reading the user's own files (a recipe,
a data file, a rubric): one wording for a file that is missing, a folder, not readable or not UTF-8."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ftwizard.errors import UsageError


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


# -- the user's files -------------------------------------------------------------------------------
def user_file_error(path: str | os.PathLike, what: str, e: OSError) -> UsageError:
    """Why the user's `what` ("recipe file", "data file") at `path` cannot be read, as one line naming it."""
    if isinstance(e, FileNotFoundError):
        return UsageError(f"{what} not found: {path}")
    if isinstance(e, IsADirectoryError):
        return UsageError(f"{what} is a folder, not a file: {path}")
    if isinstance(e, PermissionError):
        return UsageError(f"{what} not readable (permission denied): {path}")
    return UsageError(f"{what} not readable ({e.strerror or e}): {path}")


def require_user_file(path: str | os.PathLike, what: str) -> os.stat_result:
    """`path`'s stat when it is a file; a missing file or a folder is the UsageError `user_file_error` words."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise user_file_error(path, what, e) from None
    if stat.S_ISDIR(st.st_mode):
        raise user_file_error(path, what, IsADirectoryError(path))
    return st


def open_user_file(path: str | os.PathLike, what: str) -> BinaryIO:
    """The user's file opened for reading bytes, or the UsageError `user_file_error` words."""
    try:
        return open(path, "rb")
    except OSError as e:
        raise user_file_error(path, what, e) from None


def not_utf8(path: str | os.PathLike, line: int, byte: int, column: int, bad: bytes) -> UsageError:
    """A file that is not UTF-8 text, named with the line, the byte offset in the file and the bytes found."""
    return UsageError(f"{path}: line {line}: not UTF-8 text (byte {byte:,} of the file, column {column}: "
                      f"{bad.hex(' ')}); save the file as UTF-8")


def decode_user_text(data: bytes, path: str | os.PathLike) -> str:
    """`data` (the file at `path`) as text: UTF-8, a byte-order mark dropped; else `not_utf8`."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data[:start].count(b"\n") + 1
        col = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise not_utf8(path, line, start, col, data[start:start + 4]) from None


def read_user_text(path: str | os.PathLike, what: str) -> str:
    """The whole text of the user's `what` at `path`, or a UsageError naming it (see `user_file_error`)."""
    with open_user_file(path, what) as f:
        try:
            data = f.read()
        except OSError as e:  # a folder opens on some systems and fails on read
            raise user_file_error(path, what, e) from None
    return decode_user_text(data, path)


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
